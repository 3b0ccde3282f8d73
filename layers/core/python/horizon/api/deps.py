"""Request dependencies as `Annotated` aliases: the caller's owner and the services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from horizon.entries import EntryStore
from horizon.errors import ForbiddenError, InvalidRequestError
from horizon.idempotency import MAX_KEY_LENGTH, is_valid_key
from horizon.identity import Caller, IdentityService, Role
from horizon.jobs import JobStore
from horizon.uploads import UploadService

# POSTs that only read: a reader may ask questions of its logs.
READ_ONLY_POSTS = frozenset({"/graphql", "/api/v1/query", "/api/v1/jobs/{job_id}/query"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RATE_LIMIT_STATE = "rate_limit_headers"


# The two ways to present a credential, as FastAPI security schemes: the OpenAPI document
# then declares them and lists them (either one) on every operation that depends on
# `current_caller`. auto_error=False: whether one is needed depends on the settings, and the
# refusal is IdentityService's 401 in the API's error shape.
API_KEY_SCHEME = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKeyAuth",
    description="An API key (`hzn_<key_id>_<secret>`), the admin key, or an API_TOKENS token",
    auto_error=False,
)
BEARER_SCHEME = HTTPBearer(
    scheme_name="BearerAuth",
    description="The same credentials as `Authorization: Bearer <key>`",
    auto_error=False,
)


def current_caller(
    request: Request,
    api_key: Annotated[str | None, Security(API_KEY_SCHEME)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)],
) -> Caller:
    """Authenticate the request, check its role may do it, and count it against its tier.

    The credential is `X-API-Key` or `Authorization: Bearer` (the key wins when both come).
    The limiter's usage is kept on the request for `RateLimitHeadersMiddleware` to put on the
    answer, whatever it is.

    Raises:
        UnauthorizedError: a credential is needed and missing, unknown or revoked (401).
        ForbiddenError: a reader asked to create, change or run something (403).
        LimitExceededError: over the tier's burst or daily quota (429).
    """
    service = IdentityService()
    token = bearer.credentials.strip() if bearer else None
    credential = api_key or token or None
    caller = service.authenticate(credential, counted_next=True)
    if caller.role is Role.READER and not _reads_only(request):
        service.authenticate(credential)  # read afresh: a revoked key is a 401, not this 403
        raise ForbiddenError("this API key may only read (role reader)")
    usage = service.count_request(caller)
    setattr(request.state, RATE_LIMIT_STATE, usage.headers())
    return caller


def _reads_only(request: Request) -> bool:
    if request.method in SAFE_METHODS:
        return True
    route = request.scope.get("route")
    return request.method == "POST" and getattr(route, "path", None) in READ_ONLY_POSTS


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def current_owner(caller: CurrentCaller) -> str:
    """The tenant whose data the request sees."""
    return caller.owner


def admin_caller(caller: CurrentCaller) -> Caller:
    """The caller, who must hold an admin key.

    Raises:
        ForbiddenError: the caller's role is not admin (403).
    """
    if caller.role is not Role.ADMIN:
        raise ForbiddenError("this call needs an admin key")
    return caller


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="The same key and body within 24 h answer the same and run once",
            max_length=MAX_KEY_LENGTH,
        ),
    ] = None,
) -> str | None:
    """Return the request's `Idempotency-Key`, or None when it has none.

    Raises:
        InvalidRequestError: the key is not 1–255 visible ASCII characters (422).
    """
    if key is not None and not is_valid_key(key):
        raise InvalidRequestError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
        )
    return key


# Stores are cheap objects over the shared, lazily made clients: one per request keeps no
# per-request state on modules.
def job_store() -> JobStore:
    return JobStore()


def entry_store() -> EntryStore:
    return EntryStore()


def upload_service() -> UploadService:
    return UploadService()


Owner = Annotated[str, Depends(current_owner)]
Admin = Annotated[Caller, Depends(admin_caller)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
Jobs = Annotated[JobStore, Depends(job_store)]
Entries = Annotated[EntryStore, Depends(entry_store)]
Uploads = Annotated[UploadService, Depends(upload_service)]
