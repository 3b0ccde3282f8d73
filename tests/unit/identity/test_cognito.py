"""Cognito tokens → Caller: what verifies, what is refused (401) and why, and the JWKS cache."""

from __future__ import annotations

import base64
import time

import orjson
import pytest

from horizon.errors import DependencyError
from horizon.identity import Caller, Role, Tier
from horizon.identity.cognito import CognitoVerifier, looks_like_jwt
from horizon.identity.jwks import JwksCache
from horizon.tenancy import UnauthorizedError
from tests.unit.identity.conftest import (
    CLIENT_ID,
    ISSUER,
    JWKS_URL,
    access_claims,
    id_claims,
)


def refused(verifier: CognitoVerifier, token: str) -> str:
    with pytest.raises(UnauthorizedError) as raised:
        verifier.verify(token)
    return str(raised.value)


def test_an_id_token_is_its_tenant_as_a_free_member(verifier, pool):
    caller = verifier.verify(pool.sign(id_claims()))
    assert caller == Caller("acme", "jwt-5f1c-user-1", Tier.FREE, Role.MEMBER)


def test_an_access_token_with_claims_gives_its_tier_and_group_role(verifier, pool):
    token = pool.sign(access_claims(**{"custom:tier": "pro", "cognito:groups": ["reader"]}))
    assert verifier.verify(token) == Caller("acme", "jwt-5f1c-user-1", Tier.PRO, Role.READER)


def test_custom_role_wins_over_groups_and_groups_give_their_highest_role(verifier, pool):
    groups = {"cognito:groups": ["staff", "reader", "admin"]}
    assert verifier.verify(pool.sign(id_claims(**groups))).role is Role.ADMIN
    token = pool.sign(id_claims(**groups, **{"custom:role": "reader"}))
    assert verifier.verify(token).role is Role.READER


def test_an_expired_token_is_refused(verifier, pool):
    past = int(time.time()) - 7200
    assert "expired" in refused(verifier, pool.sign(id_claims(iat=past, exp=past + 3600)))


def test_clocks_a_few_seconds_apart_are_tolerated(verifier, pool):
    now = int(time.time())
    assert verifier.verify(pool.sign(id_claims(exp=now - 5, iat=now + 5)))


def test_a_token_not_valid_yet_is_refused(verifier, pool):
    later = int(time.time()) + 600
    assert "not valid yet" in refused(verifier, pool.sign(id_claims(nbf=later)))


def test_a_tampered_payload_breaks_the_signature(verifier, pool):
    header, _, signature = pool.sign(id_claims()).split(".")
    forged = base64.urlsafe_b64encode(orjson.dumps(id_claims(**{"custom:tenant": "victim"})))
    token = f"{header}.{forged.decode().rstrip('=')}.{signature}"
    assert "signature is invalid" in refused(verifier, token)


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(verifier, pool):
    token = pool.sign(id_claims(), kid="k1", signer="evil")
    assert "signature is invalid" in refused(verifier, token)


def test_another_issuer_is_refused_before_any_key_is_fetched(verifier, pool):
    token = pool.sign(id_claims(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"))
    assert "not issued by this platform's user pool" in refused(verifier, token)
    assert pool.urls == []


@pytest.mark.parametrize(
    ("make", "claim"), [(id_claims, "aud"), (access_claims, "client_id")], ids=["id", "access"]
)
def test_another_app_client_is_refused(verifier, pool, make, claim):
    token = pool.sign(make(**{claim: "another-client"}))
    assert "another app client" in refused(verifier, token)


def test_an_id_token_does_not_pass_for_an_access_token_without_client_id(verifier, pool):
    # An access token's audience is client_id: an `aud` alone does not make one.
    token = pool.sign(id_claims(token_use="access"))
    assert "another app client" in refused(verifier, token)


@pytest.mark.parametrize("use", ["refresh", None])
def test_other_token_uses_are_refused(verifier, pool, use):
    assert "token_use" in refused(verifier, pool.sign(id_claims(token_use=use)))


def test_an_unknown_kid_is_refused(verifier, pool):
    token = pool.sign(id_claims(), kid="evil")
    assert "key the user pool does not have" in refused(verifier, token)


def test_a_token_without_a_tenant_is_refused(verifier, pool):
    assert "no tenant" in refused(verifier, pool.sign(id_claims(**{"custom:tenant": None})))


@pytest.mark.parametrize("tenant", ["a/b", "x#y", "..", ""])
def test_a_tenant_unsafe_for_storage_keys_is_refused(verifier, pool, tenant):
    assert "tenant" in refused(verifier, pool.sign(id_claims(**{"custom:tenant": tenant})))


@pytest.mark.parametrize(("claim", "value"), [("custom:role", "owner"), ("custom:tier", "gold")])
def test_unknown_roles_and_tiers_are_refused(verifier, pool, claim, value):
    assert "unknown" in refused(verifier, pool.sign(id_claims(**{claim: value})))


def test_unsigned_and_hmac_tokens_are_refused(verifier, pool):
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"k1"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(orjson.dumps(id_claims())).decode().rstrip("=")
    assert "RS256" in refused(verifier, f"{header}.{payload}.")
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","kid":"k1"}').decode().rstrip("=")
    assert "RS256" in refused(verifier, f"{header}.{payload}.c2ln")


@pytest.mark.parametrize("token", ["eyJ.eyJ.x", "eyJhbGciOiJSUzI1NiJ9.bm90LWpzb24.x", "a.b"])
def test_malformed_tokens_are_refused(verifier, token):
    assert "malformed" in refused(verifier, token)


def test_looks_like_jwt_tells_tokens_from_keys():
    assert looks_like_jwt("eyJhbGciOi.eyJzdWIi.sig")
    assert not looks_like_jwt("hzn_0123456789abcdef_secret")
    assert not looks_like_jwt("token-for-tenant-a")


# -- the JWKS ---------------------------------------------------------------------------------


def test_the_jwks_is_fetched_once_for_many_tokens(verifier, pool):
    for _ in range(5):
        verifier.verify(pool.sign(id_claims()))
    assert pool.urls == [JWKS_URL]


def test_a_new_kid_fetches_the_jwks_again_but_not_more_than_every_interval(pool):
    now = [1000.0]
    keys = JwksCache(JWKS_URL, fetch=pool.fetch, refetch_interval_s=30, clock=lambda: now[0])
    verifier = CognitoVerifier(ISSUER, CLIENT_ID, keys)
    verifier.verify(pool.sign(id_claims()))
    rotated = pool.sign(id_claims(), kid="k2")
    pool.published = ["k1", "k2"]  # the pool rotates its key
    now[0] += 5
    refused(verifier, rotated)  # fetched 5 s ago: no new fetch for an unknown kid yet
    assert len(pool.urls) == 1
    now[0] += 30
    assert verifier.verify(rotated).owner == "acme"
    assert len(pool.urls) == 2
    verifier.verify(pool.sign(id_claims()))  # both kids known now: no fetch
    assert len(pool.urls) == 2


def test_an_unreachable_jwks_is_a_dependency_error(pool):
    def down(url: str, timeout_s: float) -> bytes:
        raise TimeoutError("timed out")

    verifier = CognitoVerifier(ISSUER, CLIENT_ID, JwksCache(JWKS_URL, fetch=down))
    with pytest.raises(DependencyError, match="signing keys"):
        verifier.verify(pool.sign(id_claims()))


def test_a_document_that_is_no_jwks_is_a_dependency_error(pool):
    keys = JwksCache(JWKS_URL, fetch=lambda url, timeout_s: b'{"nope": 1}')
    with pytest.raises(DependencyError, match="not a JWKS"):
        CognitoVerifier(ISSUER, CLIENT_ID, keys).verify(pool.sign(id_claims()))
