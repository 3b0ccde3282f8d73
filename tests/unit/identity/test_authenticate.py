"""`IdentityService.authenticate` with a user pool configured: JWTs beside keys and tokens."""

from __future__ import annotations

import boto3
import pytest
from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

from horizon.identity import Caller, IdentityService, Role, Tier
from horizon.identity.cognito import CognitoVerifier
from horizon.identity.jwks import JwksCache
from horizon.settings import get_settings, reset_settings
from horizon.tenancy import UnauthorizedError
from tests.unit.identity.conftest import CLIENT_ID, POOL_ID, id_claims


@pytest.fixture
def with_pool(aws, monkeypatch):
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_CLIENT_ID", CLIENT_ID)
    reset_settings()
    return monkeypatch


def service(verifier: CognitoVerifier) -> IdentityService:
    return IdentityService(settings=get_settings(), verifier=verifier)


def test_a_valid_token_is_its_caller(with_pool, verifier, pool):
    caller = service(verifier).authenticate(pool.sign(id_claims()))
    assert caller == Caller("acme", "jwt-5f1c-user-1", Tier.FREE, Role.MEMBER)


def test_a_pool_makes_credentials_required(with_pool, verifier):
    with pytest.raises(UnauthorizedError, match="Cognito token is required"):
        service(verifier).authenticate(None)


def test_the_local_pool_leaves_the_development_tenant_open_but_checks_tokens(
    with_pool, verifier, pool
):
    with_pool.setenv("COGNITO_REQUIRES_CREDENTIALS", "false")
    reset_settings()
    assert service(verifier).authenticate(None).owner == "local"
    assert service(verifier).authenticate(pool.sign(id_claims())).owner == "acme"
    with pytest.raises(UnauthorizedError, match="signature"):
        service(verifier).authenticate(pool.sign(id_claims(), signer="evil"))


def test_without_a_pool_a_jwt_is_just_an_unknown_key(aws, pool):
    with pytest.raises(UnauthorizedError, match="invalid or revoked API key"):
        IdentityService(settings=get_settings()).authenticate(pool.sign(id_claims()))


def test_the_default_issuer_is_the_one_in_moto_s_tokens(aws, monkeypatch):
    """moto signs like Cognito (iss `https://cognito-idp.{region}.amazonaws.com/{pool}`), and
    the settings' default issuer and JWKS location match it."""
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool_id = cognito.create_user_pool(
        PoolName="people", Schema=[{"Name": "tenant", "AttributeDataType": "String"}]
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="app", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username="bob",
        UserAttributes=[{"Name": "custom:tenant", "Value": "bobs-shop"}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="bob", Password="Corr3ct-Horse!", Permanent=True
    )
    tokens = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bob", "PASSWORD": "Corr3ct-Horse!"},
    )["AuthenticationResult"]
    monkeypatch.setenv("COGNITO_USER_POOL_ID", pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", client_id)
    reset_settings()
    settings = get_settings()
    urls: list[str] = []

    def moto_jwks(url: str, timeout_s: float) -> bytes:
        urls.append(url)
        return CognitoIdpJsonWebKeyResponse.json_web_key

    keys = JwksCache(settings.cognito_jwks_endpoint(), fetch=moto_jwks)
    verifier = CognitoVerifier(settings.cognito_issuer_url(), client_id, keys)
    assert verifier.verify(tokens["IdToken"]).owner == "bobs-shop"
    assert urls == [f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}/.well-known/jwks.json"]
    # moto's access tokens carry no custom attributes, like Cognito's without a trigger.
    with pytest.raises(UnauthorizedError, match="no tenant"):
        verifier.verify(tokens["AccessToken"])
