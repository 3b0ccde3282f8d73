"""The one place where failures become HTTP statuses.

Domain exceptions (horizon.errors) map to 4xx/503 with their message as `detail`; anything
unexpected becomes 500 `{"detail": "internal error", "request_id"}` with the stack trace in
the log only. FastAPI's own validation errors keep their 422.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from horizon.errors import (
    ConflictError,
    DependencyError,
    ForbiddenError,
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
    (ForbiddenError, 403),
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
    """The id to quote to support: the request's correlation id (`X-Request-Id`)."""
    from horizon.api.request_log import correlation_id  # late: request_log logs, errors maps

    return correlation_id(scope)


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


async def _validation_error(request: Request, error: Exception) -> Response:
    """FastAPI's 422, written so that any input it echoes can be encoded: a JSON `\\ud800`
    escape gives Python a lone surrogate, which UTF-8 cannot encode (FastAPI's own handler
    then fails with a 500). ASCII-escaped JSON carries it as the client sent it."""
    assert isinstance(error, RequestValidationError)
    body = json.dumps({"detail": jsonable_encoder(error.errors())}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


def install(app: FastAPI) -> None:
    """Register the error mapping on `app`."""
    app.add_exception_handler(HorizonError, _horizon_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(InternalErrorMiddleware)
