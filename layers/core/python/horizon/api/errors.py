"""The one place where failures become HTTP answers, all in one shape.

Every error answer is JSON `{"detail": str, "code": str, "request_id": str}` (`ErrorBody`):
`detail` a sentence for people, `code` a stable snake_case name for programs (one per
status, `CODE_BY_STATUS`), `request_id` the request's `X-Request-Id`. Domain exceptions
(horizon.errors) map to their status in `STATUS_BY_ERROR`; FastAPI's validation errors (422)
and Starlette's own 404/405 take the same shape, a 422 adding `errors` with each problem's
location. Anything unexpected becomes 500 `internal error` with the stack trace in the log
only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from horizon.api.request_log import correlation_id
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


class ErrorCode(StrEnum):
    """The machine-readable `code` of an error answer. Clients may branch on these: never
    rename one, only add."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION_ERROR = "validation_error"
    RATE_LIMITED = "rate_limited"
    HTTP_ERROR = "http_error"
    INTERNAL_ERROR = "internal_error"
    DEPENDENCY_UNAVAILABLE = "dependency_unavailable"


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
# One code per status, so a domain error and FastAPI's or Starlette's own answer of the same
# status (a 422, a 404) carry the same code.
CODE_BY_STATUS: Mapping[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_ERROR,
    429: ErrorCode.RATE_LIMITED,
    500: ErrorCode.INTERNAL_ERROR,
    503: ErrorCode.DEPENDENCY_UNAVAILABLE,
}
# A 422's `detail` names this many problems; `errors` lists them all.
PROBLEMS_IN_DETAIL = 5


class FieldError(BaseModel):
    """One problem FastAPI found in the request (never the offending input: it may be code
    or a credential)."""

    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then keys"
    )
    msg: str = Field(description="What is wrong there")
    type: str = Field(description="Pydantic's error type, e.g. `missing`")


class ErrorBody(BaseModel):
    """Every error answer of the REST API."""

    detail: str = Field(description="Why, in a sentence", examples=["job 0 not found"])
    code: ErrorCode = Field(description="Stable machine-readable reason", examples=["not_found"])
    request_id: str = Field(
        description="The answer's X-Request-Id: quote it to support",
        examples=["6f1c2a7e-3b7d-4a8e-9a43-2f0c1d9e5b10"],
    )
    errors: list[FieldError] | None = Field(
        default=None, description="A validation error's problems, each with its location"
    )


def status_for(error: HorizonError) -> int:
    """Return the HTTP status of a domain error (500 for one nobody mapped)."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def code_for(status: int) -> ErrorCode:
    """Return the `code` of an error answer of `status`."""
    fallback = ErrorCode.INTERNAL_ERROR if status >= 500 else ErrorCode.HTTP_ERROR
    return CODE_BY_STATUS.get(status, fallback)


def request_id(scope: Scope) -> str:
    """The id to quote to support: the request's correlation id (`X-Request-Id`)."""
    return correlation_id(scope)


class ErrorResponse(JSONResponse):
    """JSON written ASCII-escaped, so that any input an error echoes can be encoded: a JSON
    `\\ud800` escape gives Python a lone surrogate (say in a validation error's `loc`), which
    UTF-8 cannot encode. ASCII-escaped JSON carries it as the client sent it."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(
    scope: Scope,
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[FieldError] | None = None,
) -> ErrorResponse:
    """Build the error answer of `status`: every error of the API goes through here."""
    body = ErrorBody(
        detail=detail, code=code_for(status), request_id=request_id(scope), errors=errors
    )
    return ErrorResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )


async def _horizon_error(request: Request, error: Exception) -> Response:
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
    return error_response(request.scope, status, str(error), headers=headers)


async def _http_error(request: Request, error: Exception) -> Response:
    """Starlette's and FastAPI's own HTTP errors (an unknown path 404, a wrong method 405)."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code < 400:  # e.g. a 304: no body allowed, nothing to explain
        return Response(status_code=error.status_code, headers=error.headers)
    return error_response(
        request.scope, error.status_code, str(error.detail), headers=error.headers
    )


async def _validation_error(request: Request, error: Exception) -> Response:
    """FastAPI's 422: a readable `detail` naming the first problems, and all of them in
    `errors` with their location."""
    assert isinstance(error, RequestValidationError)
    problems = [
        FieldError(loc=list(item.get("loc", ())), msg=str(item.get("msg", "")), type=item["type"])
        for item in error.errors()
    ]
    return error_response(request.scope, 422, validation_detail(problems), errors=problems)


def validation_detail(problems: Sequence[FieldError]) -> str:
    """`body.code: Field required; query.limit: ...`, the first PROBLEMS_IN_DETAIL of them."""
    shown = [
        f"{'.'.join(str(part) for part in problem.loc)}: {problem.msg}"
        for problem in problems[:PROBLEMS_IN_DETAIL]
    ]
    hidden = len(problems) - len(shown)
    text = "; ".join(shown) or "invalid request"
    return f"{text} (and {hidden} more)" if hidden > 0 else text


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
            logger.exception("unhandled error (request %s)", request_id(scope))
            if started:  # too late to change the status; the connection just ends
                return
            await error_response(scope, 500, "internal error")(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the error mapping on `app`."""
    app.add_exception_handler(HorizonError, _horizon_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(InternalErrorMiddleware)
