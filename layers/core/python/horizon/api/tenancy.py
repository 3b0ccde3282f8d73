"""Who is calling: bearer tokens → owners (tenants), shared by the REST and WebSocket APIs.

With no tokens configured (`API_TOKENS` empty, the local default) every caller is
`settings.default_owner`. With tokens, a missing or unknown token is refused.
"""

from __future__ import annotations

import hmac
import re

from horizon.errors import HorizonError
from horizon.settings import get_settings

# Owners appear inside S3 keys and DynamoDB keys joined with "/" and "#": neither may occur.
_SAFE_OWNER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class UnauthorizedError(HorizonError):
    """The caller did not present a valid token."""


def is_safe_owner(owner: str) -> bool:
    """Return whether `owner` can be embedded in storage keys as it is."""
    return bool(_SAFE_OWNER.match(owner)) and owner not in (".", "..")


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer <token>` header value, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def resolve_owner(token: str | None) -> str:
    """Return the owner that `token` stands for.

    Args:
        token: the bearer token presented, or None.

    Returns:
        The owner (tenant) name, safe for storage keys.

    Raises:
        UnauthorizedError: tokens are configured and `token` is missing or unknown.
        ValueError: the configured owner is not safe for storage keys (a deployment error).
    """
    settings = get_settings()
    tokens = settings.tokens()
    if not tokens:
        owner = settings.default_owner
    else:
        owner = ""
        if token:
            # Compare against every token in constant time so timing reveals nothing.
            for known, tenant in tokens.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    owner = tenant
        if not owner:
            raise UnauthorizedError("missing or invalid bearer token")
    if not is_safe_owner(owner):
        raise ValueError(f"configured owner {owner!r} is not safe for storage keys")
    return owner
