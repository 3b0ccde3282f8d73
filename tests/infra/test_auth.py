"""The API tokens secret: every function knows where it is and that tokens are required, and
only the functions that authenticate callers may read it."""

from __future__ import annotations

import pytest

from horizon import wiring
from infra.auth import ADMIN_KEY_SECRET_ARN_ENV, REQUIRE_TOKENS_ENV, SECRET_ARN_ENV
from infra.stack import TOKEN_CHECKING_FUNCTIONS
from tests.infra.lookup import environment, functions, get_att_id, of_type, policy_statements


def test_a_generated_token_secret_and_admin_key_exist(resources):
    secrets = of_type(resources, "AWS::SecretsManager::Secret")
    assert len(secrets) == 2
    generated = {
        props["GenerateSecretString"]["GenerateStringKey"]: props["GenerateSecretString"]
        for props in secrets.values()
    }
    assert set(generated) == {"token", "key"}
    assert '"tenant"' in generated["token"]["SecretStringTemplate"]
    assert generated["key"]["PasswordLength"] >= 32


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.key)
def test_every_function_knows_the_admin_key_secret(resources, spec):
    assert "Ref" in environment(resources, spec.key)[ADMIN_KEY_SECRET_ARN_ENV]


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.key)
def test_every_function_requires_tokens(resources, spec):
    env = environment(resources, spec.key)
    assert env[REQUIRE_TOKENS_ENV] == "true"
    assert "Ref" in env[SECRET_ARN_ENV]


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.key)
def test_only_token_checking_functions_read_the_secret(resources, spec):
    _, props = functions(resources)[spec.key]
    actions = {
        action
        for statement in policy_statements(resources, get_att_id(props["Role"]))
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert ("secretsmanager:GetSecretValue" in actions) == (spec.key in TOKEN_CHECKING_FUNCTIONS)
