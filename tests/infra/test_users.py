"""The Cognito user pool people sign in to: a locked-down pool, a public app client that cannot
write the custom attributes, and the verifying functions told about both."""

from __future__ import annotations

import pytest

from horizon import wiring
from infra import names
from infra.users import PASSWORD_MIN_LENGTH
from tests.infra.lookup import environment, of_type, referenced_ids

SPEC = wiring.USER_POOL


@pytest.fixture(scope="module")
def pool(resources):
    pools = of_type(resources, "AWS::Cognito::UserPool")
    assert len(pools) == 1
    return next(iter(pools.items()))


@pytest.fixture(scope="module")
def client(resources):
    clients = of_type(resources, "AWS::Cognito::UserPoolClient")
    assert len(clients) == 1
    return next(iter(clients.values()))


def test_only_administrators_create_users(pool):
    _, props = pool
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_the_password_policy_is_strong(pool):
    policy = pool[1]["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= max(PASSWORD_MIN_LENGTH, 8)
    for rule in ("RequireUppercase", "RequireLowercase", "RequireNumbers", "RequireSymbols"):
        assert policy[rule] is True, rule


def test_threat_protection_is_enforced_and_mfa_optional(pool):
    _, props = pool
    assert props["UserPoolTier"] == "PLUS"
    assert props["UserPoolAddOns"]["AdvancedSecurityMode"] == "ENFORCED"
    assert props["MfaConfiguration"] == "OPTIONAL"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_the_pool_survives_the_stack(resources, pool):
    logical_id, props = pool
    assert props["DeletionProtection"] == "ACTIVE"
    assert resources[logical_id]["DeletionPolicy"] == "Retain"


def test_tenant_role_and_tier_are_custom_attributes(pool):
    schema = {attribute["Name"]: attribute for attribute in pool[1]["Schema"]}
    for name, mutable in SPEC.custom_attributes.items():
        assert schema[name]["AttributeDataType"] == "String"
        assert schema[name]["Mutable"] is mutable
    assert schema["tenant"]["Mutable"] is False


def test_the_app_client_is_public_with_password_srp_and_refresh(pool, client):
    assert client["UserPoolId"] == {"Ref": pool[0]}
    assert client["ClientName"] == SPEC.client_name
    assert client.get("GenerateSecret", False) is False
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert client["EnableTokenRevocation"] is True
    assert client["PreventUserExistenceErrors"] == "ENABLED"


def test_token_validity_follows_the_wiring(client):
    assert client["IdTokenValidity"] == SPEC.id_token_minutes
    assert client["AccessTokenValidity"] == SPEC.access_token_minutes
    assert client["RefreshTokenValidity"] == SPEC.refresh_token_days * 24 * 60
    assert client["TokenValidityUnits"] == {
        "IdToken": "minutes",
        "AccessToken": "minutes",
        "RefreshToken": "minutes",
    }


def test_users_cannot_write_their_tenant_role_or_tier(client):
    custom = {f"custom:{name}" for name in SPEC.custom_attributes}
    assert custom <= set(client["ReadAttributes"])
    assert not custom & set(client["WriteAttributes"])


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.key)
def test_only_the_verifying_functions_know_the_pool(resources, pool, client, spec):
    env = environment(resources, spec.key)
    if spec.key not in wiring.AUTHENTICATING_FUNCTIONS:
        assert SPEC.pool_env not in env and SPEC.client_env not in env
        return
    assert env[SPEC.pool_env] == {"Ref": pool[0]}
    client_id = next(
        logical_id
        for logical_id, props in of_type(resources, "AWS::Cognito::UserPoolClient").items()
        if props is client
    )
    assert env[SPEC.client_env] == {"Ref": client_id}
    # https:// + the pool's ProviderURL: exactly the `iss` Cognito writes.
    issuer = env[SPEC.issuer_env]
    assert issuer["Fn::Join"][1][0] == "https://"
    assert issuer["Fn::Join"][1][1] == {"Fn::GetAtt": [pool[0], "ProviderURL"]}
    assert SPEC.jwks_env not in env  # in AWS the keys are under the issuer


def test_the_outputs_name_the_pool_and_client(template, pool):
    outputs = template.to_json()["Outputs"]
    assert referenced_ids(outputs[names.OUTPUT_USER_POOL_ID]["Value"]) == {pool[0]}
    client_ids = referenced_ids(outputs[names.OUTPUT_USER_POOL_CLIENT_ID]["Value"])
    assert client_ids == set(
        of_type(template.to_json()["Resources"], "AWS::Cognito::UserPoolClient")
    )
