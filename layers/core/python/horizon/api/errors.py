"""The one place where failures become HTTP statuses.

Domain exceptions (horizon.errors) map to 4xx/503 with their message as `detail`; anything
unexpected becomes 500 `{"detail": "internal error", "request_id"}` with the stack trace in
the log only. FastAPI's own validation errors keep their 422.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from horizon.errors import (
    ConflictError,
    DependencyError,
    HorizonError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    UnsupportedMediaError,
)
from horizon.tenancy import UnauthorizedError

logger = logging.getLogger(__name__)

# Most specific first: UnsupportedMediaError and PayloadTooLargeError are InvalidRequestErrors.
STATUS_BY_ERROR: tuple[tuple[type[HorizonError], int], ...] = (
    (UnauthorizedError, 401),
    (NotFoundError, 404),
    (UnsupportedMediaError, 415),
    (PayloadTooLargeError, 413),
    (InvalidRequestError, 422),
    (ConflictError, 409),
    (RateLimitedError, 429),
    (DependencyError, 503),
)


def status_for(error: HorizonError) -> int:
    """Return the HTTP status of a domain error (500 for one nobody mapped)."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def request_id(scope: Scope) -> str:
    """The id to quote to support: Lambda's request id, API Gateway's, or a fresh one."""
    context = scope.get("aws.context")
    if context is not None and getattr(context, "aws_request_id", None):
        return str(context.aws_request_id)
    event = scope.get("aws.event") or {}
    found = (event.get("requestContext") or {}).get("requestId")
    return str(found) if found else str(uuid.uuid4())


async def _horizon_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HorizonError)
    status = status_for(error)
    if status >= 500:
        # The cause (a botocore error) is logged, never returned.
        logger.error("%s: %s", type(error).__name__, error, exc_info=error)
    headers = None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(error, RateLimitedError):
        headers = {**error.headers, "Retry-After": str(error.retry_after_s)}
    return JSONResponse({"detail": str(error)}, status_code=status, headers=headers)


class InternalErrorMiddleware:
    """Turns any unexpected exception into a 500 without a stack trace in the body.

    A plain ASGI middleware rather than an `Exception` handler: Starlette re-raises after
    calling such a handler, which Mangum would log a second time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            rid = request_id(scope)
            logger.exception("unhandled error (request %s)", rid)
            if started:  # too late to change the status; the connection just ends
                return
            response = JSONResponse({"detail": "internal error", "request_id": rid}, 500)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the error mapping on `app`."""
    app.add_exception_handler(HorizonError, _horizon_error)
    app.add_middleware(InternalErrorMiddleware)
