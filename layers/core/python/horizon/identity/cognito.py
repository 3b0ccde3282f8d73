"""Amazon Cognito tokens → `Caller`: the people who sign in to a user pool.

The application verifies the tokens itself (no API Gateway authorizer), so the REST API and
the WebSocket `$connect` share `IdentityService.authenticate`. What is checked follows AWS's
"Verifying a JSON Web Token" (https://docs.aws.amazon.com/cognito/latest/developerguide/
amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html):
- an RS256 signature by a key of the pool's JWKS (`alg` is pinned: no `none`, no HMAC);
- `iss` is the pool's issuer; `token_use` is `id` or `access`;
- the audience is the app client: `aud` in an ID token, `client_id` in an access token;
- `exp`, `iat` and `nbf` with a small leeway for clocks apart.
The tenant comes from `custom:tenant` (required), the role from `custom:role` or else the
`cognito:groups` that name a role (default member), the tier from `custom:tier` (default free).
Cognito puts custom attributes in ID tokens; access tokens carry them only when a pre token
generation trigger adds them, so an access token without one is refused like any other.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import orjson
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError

from horizon.identity.jwks import JwksCache
from horizon.identity.models import Caller, Role, Tier
from horizon.settings import Settings
from horizon.tenancy import UnauthorizedError, is_safe_owner

ALGORITHM = "RS256"
LEEWAY_S = 60
TENANT_CLAIM = "custom:tenant"
ROLE_CLAIM = "custom:role"
TIER_CLAIM = "custom:tier"
GROUPS_CLAIM = "cognito:groups"
KEY_ID_PREFIX = "jwt-"
DEFAULT_ROLE = Role.MEMBER
DEFAULT_TIER = Tier.FREE
# A user in several role groups gets the most the groups allow.
_ROLE_RANK = {Role.READER: 0, Role.MEMBER: 1, Role.ADMIN: 2}


def looks_like_jwt(credential: str) -> bool:
    """Whether `credential` is shaped like a JWS compact token (`eyJ…​.….…`), not a key."""
    return credential.startswith("eyJ") and credential.count(".") == 2


class CognitoVerifier:
    """Verifies one user pool's tokens for one app client.

    Args:
        issuer: the tokens' `iss` (`https://cognito-idp.{region}.amazonaws.com/{pool_id}`).
        client_id: the app client the tokens must be for.
        keys: the pool's signing keys.
        leeway_s: how far apart clocks may be when checking `exp`, `iat` and `nbf`.
        clock: Unix seconds (tests pass their own).
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        keys: JwksCache,
        leeway_s: int = LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.keys = keys
        self.leeway_s = leeway_s
        self._clock = clock

    def verify(self, token: str) -> Caller:
        """Return the caller that the Cognito `token` stands for.

        Raises:
            UnauthorizedError: the token is malformed, not signed by the pool, of another
                issuer or app client, expired, or carries no (valid) tenant, role or tier.
            DependencyError: the pool's signing keys could not be read.
        """
        header, unverified = _peek(token)
        # Checked before the signature so that another pool's tokens cost no JWKS fetch; the
        # payload that the signature then covers is this very segment.
        self._check_issuer(unverified)
        if header.get("alg") != ALGORITHM:
            raise UnauthorizedError(f"the token must be signed with {ALGORITHM}")
        kid = header.get("kid")
        key = self.keys.key(kid) if isinstance(kid, str) else None
        if key is None:
            raise UnauthorizedError("the token is signed with a key the user pool does not have")
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
        except BadSignatureError as error:
            raise UnauthorizedError("the token's signature is invalid") from error
        except (JoseError, ValueError) as error:
            raise UnauthorizedError("the token is malformed") from error
        self._check_audience(claims)
        self._check_times(claims)
        return _caller(claims)

    def _check_issuer(self, claims: Mapping[str, Any]) -> None:
        if claims.get("iss") != self.issuer:
            raise UnauthorizedError("the token was not issued by this platform's user pool")

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        use = claims.get("token_use")
        if use == "id":
            audience = claims.get("aud")
            audiences = audience if isinstance(audience, list) else [audience]
        elif use == "access":
            audiences = [claims.get("client_id")]
        else:
            raise UnauthorizedError("the token's token_use must be id or access")
        if self.client_id not in audiences:
            raise UnauthorizedError("the token was issued for another app client")

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        expires = claims.get("exp")
        if not _is_number(expires):
            raise UnauthorizedError("the token has no expiry (exp)")
        if now > expires + self.leeway_s:
            raise UnauthorizedError("the token has expired; sign in again or refresh it")
        for name in ("iat", "nbf"):
            value = claims.get(name)
            if value is not None and (not _is_number(value) or value > now + self.leeway_s):
                raise UnauthorizedError(f"the token is not valid yet ({name} is in the future)")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the header and claims of `token` without verifying anything."""
    try:
        header_part, payload_part, _ = token.split(".")
        header = orjson.loads(_b64decode(header_part))
        claims = orjson.loads(_b64decode(payload_part))
    except (ValueError, binascii.Error, orjson.JSONDecodeError) as error:
        raise UnauthorizedError("the token is malformed") from error
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise UnauthorizedError("the token is malformed")
    return header, claims


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _caller(claims: Mapping[str, Any]) -> Caller:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise UnauthorizedError("the token names no user (sub)")
    tenant = claims.get(TENANT_CLAIM)
    if not isinstance(tenant, str) or not tenant:
        raise UnauthorizedError(f"the token carries no tenant ({TENANT_CLAIM})")
    if not is_safe_owner(tenant):
        raise UnauthorizedError(f"the token's tenant ({TENANT_CLAIM}) is not a valid tenant name")
    # The user's id, not the token's: the limiter counts a person's requests across sign-ins.
    return Caller(tenant, f"{KEY_ID_PREFIX}{sub}", _tier(claims), _role(claims))


def _role(claims: Mapping[str, Any]) -> Role:
    value = claims.get(ROLE_CLAIM)
    if value is not None:
        try:
            return Role(value)
        except ValueError as error:
            raise UnauthorizedError(f"the token's role ({ROLE_CLAIM}) is unknown") from error
    groups = claims.get(GROUPS_CLAIM)
    names = {role.value: role for role in Role}
    roles = [names[group] for group in groups if group in names] if isinstance(groups, list) else []
    return max(roles, key=_ROLE_RANK.__getitem__) if roles else DEFAULT_ROLE


def _tier(claims: Mapping[str, Any]) -> Tier:
    value = claims.get(TIER_CLAIM)
    if value is None:
        return DEFAULT_TIER
    try:
        return Tier(value)
    except ValueError as error:
        raise UnauthorizedError(f"the token's tier ({TIER_CLAIM}) is unknown") from error


def verifier_for(settings: Settings) -> CognitoVerifier | None:
    """Return the process's verifier of the configured pool, or None when none is configured.

    One per pool and client for the process's life, so the JWKS is fetched once per instance.
    """
    if not settings.cognito_configured:
        return None
    assert settings.cognito_client_id is not None  # cognito_configured says so
    return _shared_verifier(
        settings.cognito_issuer_url(), settings.cognito_client_id, settings.cognito_jwks_endpoint()
    )


@lru_cache(maxsize=8)
def _shared_verifier(issuer: str, client_id: str, jwks_url: str) -> CognitoVerifier:
    return CognitoVerifier(issuer, client_id, JwksCache(jwks_url))
