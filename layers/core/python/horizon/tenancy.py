"""Who is calling: bearer tokens → owners (tenants), shared by the REST and WebSocket APIs.

Tokens come from `API_TOKENS` and, in AWS, from the Secrets Manager secret named by
`API_TOKENS_SECRET_ARN`. With no tokens configured (the local default) every caller is
`settings.default_owner`, unless `REQUIRE_API_TOKENS` is set (CDK sets it), in which case every
call is refused. With tokens, a missing or unknown token is refused.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING

import orjson

from horizon import aws
from horizon.dynamo import AWS_ERRORS
from horizon.errors import DependencyError, HorizonError
from horizon.settings import get_settings

if TYPE_CHECKING:
    from horizon.identity.models import Caller

# A rotated secret is picked up within this many seconds without a call per request.
SECRET_CACHE_S = 300
_secret_cache: dict[str, tuple[float, str]] = {}
_secret_lock = threading.Lock()

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
    """Return the owner that `token` (an API key, an `API_TOKENS` token or the admin key)
    stands for; the development tenant when no credential is configured.

    Raises:
        UnauthorizedError: credentials are configured and `token` is missing, unknown or
            revoked.
    """
    return resolve_caller(token).owner


def resolve_caller(token: str | None) -> Caller:
    """Like `resolve_owner`, with the caller's key, tier and role."""
    from horizon.identity.service import IdentityService  # late: identity uses this module

    return IdentityService().authenticate(token)


def configured_tokens() -> dict[str, str]:
    """Return every token → tenant pair: `API_TOKENS` and the tokens secret, if any.

    Raises:
        DependencyError: the secret could not be read or is not in a known shape.
    """
    settings = get_settings()
    tokens = settings.tokens()
    if settings.api_tokens_secret_arn:
        tokens.update(_secret_tokens(settings.api_tokens_secret_arn))
    return tokens


def _secret_tokens(secret_arn: str) -> dict[str, str]:
    return parse_token_secret(read_secret(secret_arn, "the API tokens"))


def read_secret(secret_arn: str, what: str) -> str:
    """Return a Secrets Manager secret's string, read at most every `SECRET_CACHE_S` seconds.

    Raises:
        DependencyError: the secret could not be read (`what` names it in the message).
    """
    with _secret_lock:
        cached = _secret_cache.get(secret_arn)
        if cached and time.monotonic() - cached[0] < SECRET_CACHE_S:
            return cached[1]
    try:
        raw = aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    except AWS_ERRORS as error:
        raise DependencyError(f"could not read {what}") from error
    with _secret_lock:
        _secret_cache[secret_arn] = (time.monotonic(), raw)
    return str(raw)


def parse_token_secret(raw: str) -> dict[str, str]:
    """Parse the tokens secret: {"token", "tenant"} and/or {"tokens": {token: tenant}}.

    Raises:
        DependencyError: the secret is not in one of those shapes.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise DependencyError("the API tokens secret is not JSON") from error
    if not isinstance(value, dict):
        raise DependencyError("the API tokens secret is not a JSON object")
    tokens: dict[str, str] = {}
    if isinstance(value.get("token"), str) and isinstance(value.get("tenant"), str):
        tokens[value["token"]] = value["tenant"]
    extra = value.get("tokens", {})
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
    ):
        raise DependencyError("the API tokens secret's `tokens` must map strings to strings")
    tokens.update(extra)
    return {token: tenant for token, tenant in tokens.items() if token}
