"""Sign-in for people: an Amazon Cognito user pool and the app client they sign in through.

Administrators create the users (no self sign-up) with their tenant, role and tier as custom
attributes; Cognito signs ID and access tokens that the API and the WebSocket `$connect`
verify themselves (`horizon.identity.cognito`), so no API Gateway authorizer is involved.
Refreshing and revoking tokens are Cognito's (`InitiateAuth` REFRESH_TOKEN_AUTH, `RevokeToken`).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from horizon import wiring

# AWS Solutions COG1 asks for 8 characters or more with upper case, digits and symbols; NIST
# SP 800-63B favours length, so 12.
PASSWORD_MIN_LENGTH = 12
# The longest a custom attribute may be: the tenant must also fit `horizon.tenancy`'s 64.
ATTRIBUTE_MAX_LENGTH = 64


class UserSignIn(Construct):
    """The user pool and its app client.

    Attributes:
        user_pool: the pool (Plus feature plan: threat protection blocks risky sign-ins).
        client: the app client (public: no secret; password, SRP and refresh flows).
    """

    def __init__(self, scope: Construct, construct_id: str, *, spec: wiring.UserPoolSpec) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.user_pool = cognito.UserPool(
            self,
            "Pool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True),
            sign_in_case_sensitive=False,
            password_policy=cognito.PasswordPolicy(
                min_length=PASSWORD_MIN_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            # Optional: people who turn on an authenticator app must use it; SMS costs and is
            # the weakest factor.
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            # Threat protection (compromised credentials, adaptive authentication) in force, as
            # cdk-nag's COG8 asks; it needs the Plus feature plan.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            custom_attributes={
                name: cognito.StringAttribute(
                    min_len=1, max_len=ATTRIBUTE_MAX_LENGTH, mutable=mutable
                )
                for name, mutable in spec.custom_attributes.items()
            },
            # The people and their tenants outlive a stack that is deleted by mistake.
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        custom = list(spec.custom_attributes)
        self.client = self.user_pool.add_client(
            "AppClient",
            user_pool_client_name=spec.client_name,
            generate_secret=False,
            # REFRESH_TOKEN_AUTH is always allowed by Cognito.
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            id_token_validity=Duration.minutes(spec.id_token_minutes),
            access_token_validity=Duration.minutes(spec.access_token_minutes),
            refresh_token_validity=Duration.days(spec.refresh_token_days),
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True)
            .with_custom_attributes(*custom),
            # Not the custom ones: a user who could write custom:tenant or custom:role through
            # UpdateUserAttributes would choose their own tenant or role.
            write_attributes=cognito.ClientAttributes().with_standard_attributes(email=True),
        )

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens: https://cognito-idp.{region}.amazonaws.com/{id}."""
        # The pool's ProviderURL has no scheme; the tokens' issuer does.
        return f"https://{self.user_pool.user_pool_provider_url}"

    @property
    def environment(self) -> dict[str, str]:
        """The variables of the functions that verify tokens: pool, client and issuer."""
        return {
            self.spec.pool_env: self.user_pool.user_pool_id,
            self.spec.client_env: self.client.user_pool_client_id,
            self.spec.issuer_env: self.issuer,
        }

    def configure(self, function: lambda_.Function) -> None:
        """Tell `function` which pool's tokens to accept (it needs no IAM grant: the JWKS is
        public)."""
        for name, value in self.environment.items():
            function.add_environment(name, value)
