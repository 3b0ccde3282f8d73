"""API tokens and the admin key: Secrets Manager secrets read by the functions that
authenticate callers. (API keys themselves live in the keys table, as salted digests.)

The stack creates it with one generated token for the tenant `default`
({"token": "<generated>", "tenant": "default"}); operators add tenants under a `tokens` map
({"tokens": {"<token>": "<tenant>"}}). The functions that authenticate callers read it and
refuse every call when it holds no token (`REQUIRE_API_TOKENS`), so a deployed API is never open.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

SECRET_ARN_ENV = "API_TOKENS_SECRET_ARN"  # noqa: S105 - a variable name, not a secret
REQUIRE_TOKENS_ENV = "REQUIRE_API_TOKENS"
ADMIN_KEY_SECRET_ARN_ENV = "HORIZON_ADMIN_KEY_SECRET_ARN"  # noqa: S105 - a variable name


class ApiTokens(Construct):
    """The tokens secret, and the grants and variables of the functions that check tokens.

    Attributes:
        secret: the secret.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="Event Horizon API bearer tokens mapped to tenants",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"tenant": "default"}',  # noqa: S106 - no secret in it
                generate_string_key="token",
                exclude_punctuation=True,
                password_length=40,
            ),
        )
        # The first admin key ({"key": "<generated>"}): it creates the tenants' API keys
        # (POST /api/v1/keys). Read it from the secret after the first deploy.
        self.admin_key_secret = secretsmanager.Secret(
            self,
            "AdminKey",
            description="Event Horizon admin API key (creates and revokes API keys)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",  # noqa: S106 - no secret in it
                generate_string_key="key",
                exclude_punctuation=True,
                password_length=48,
            ),
        )

    @property
    def environment(self) -> dict[str, str]:
        """The variables every function gets: where the tokens are, and that they are required."""
        return {
            SECRET_ARN_ENV: self.secret.secret_arn,
            REQUIRE_TOKENS_ENV: "true",
            ADMIN_KEY_SECRET_ARN_ENV: self.admin_key_secret.secret_arn,
        }

    def grant_read(self, function: lambda_.IFunction) -> None:
        """Let `function` read the tokens and the admin key."""
        self.secret.grant_read(function)
        self.admin_key_secret.grant_read(function)
