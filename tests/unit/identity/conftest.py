"""A user pool of our own for the identity tests: RSA keys, their JWKS, and signed tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from horizon.identity.cognito import CognitoVerifier
from horizon.identity.jwks import JwksCache

POOL_ID = "us-east-1_TestPool1"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
CLIENT_ID = "the-app-client"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"


@dataclass
class Pool:
    """Signing keys by kid; `published` is the JWKS the fake endpoint serves."""

    keys: dict[str, RSAKey]
    published: list[str]
    urls: list[str] = field(default_factory=list)

    def fetch(self, url: str, timeout_s: float) -> bytes:
        assert timeout_s > 0  # the real fetch always has a timeout
        self.urls.append(url)
        jwks = [self.keys[kid].as_dict(private=False) for kid in self.published]
        return orjson.dumps({"keys": [{**key, "alg": "RS256", "use": "sig"} for key in jwks]})

    def sign(self, claims: dict[str, Any], kid: str = "k1", signer: str | None = None) -> str:
        """Return a token of `claims` under the header's `kid`, signed by the key `signer`
        (by default the key `kid` itself)."""
        key = self.keys[signer or kid]
        return jwt.encode({"kid": kid, "alg": "RS256"}, claims, key, algorithms=["RS256"])


@pytest.fixture(scope="session")
def rsa_keys() -> dict[str, RSAKey]:
    # Made once: generating 2048-bit keys takes a while. "k1" is published from the start,
    # "k2" is the rotated key, "evil" is never published.
    return {
        kid: RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)
        for kid in ("k1", "k2", "evil")
    }


@pytest.fixture
def pool(rsa_keys: dict[str, RSAKey]) -> Pool:
    return Pool(keys=rsa_keys, published=["k1"])


@pytest.fixture
def verifier(pool: Pool) -> CognitoVerifier:
    return CognitoVerifier(ISSUER, CLIENT_ID, JwksCache(JWKS_URL, fetch=pool.fetch))


def id_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of an ID token of the pool, as Cognito writes them."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "5f1c-user-1",
        "aud": CLIENT_ID,
        "token_use": "id",
        "iat": now,
        "auth_time": now,
        "exp": now + 3600,
        "cognito:username": "alice",
        "custom:tenant": "acme",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def access_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of an access token (custom claims added by a pre token generation trigger)."""
    claims = id_claims(**{"aud": None, "token_use": "access", "client_id": CLIENT_ID, **overrides})
    claims.pop("cognito:username", None)
    return claims
