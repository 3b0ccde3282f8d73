"""One log line per request, with its correlation id, and the id on the answer.

The correlation id is the caller's `X-Request-Id` when it is a sane token (1–128 characters
of letters, digits and `._:-`), else API Gateway's request id, else a new one. It goes back
as `X-Request-Id`, is the `request_id` of a 500's body, is bound for the request's work (so the
queue messages it sends carry it: `horizon.correlation`), and is in the request's log line
next to the method, route, status, time and the credential presented — masked by
`horizon.observability`, so the line shows which key called (`hzn_<id>_****`), never the key.
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from horizon import correlation
from horizon.observability import logger

HEADER = "X-Request-Id"
STATE_KEY = "correlation_id"
_SANE = re.compile(rf"^[A-Za-z0-9._:-]{{1,{correlation.MAX_CHARS}}}$")


def correlation_id(scope: Scope) -> str:
    """The request's correlation id (see the module's docstring), made once per request."""
    state = scope.setdefault("state", {})
    if STATE_KEY not in state:
        given = Headers(scope=scope).get(HEADER.lower(), "")
        event = scope.get("aws.event") or {}
        gateway = str((event.get("requestContext") or {}).get("requestId") or "")
        state[STATE_KEY] = given if _SANE.match(given) else gateway or str(uuid.uuid4())
    return str(state[STATE_KEY])


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = correlation_id(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            with correlation.bound(request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            headers = Headers(scope=scope)
            logger("horizon-api").info(
                "request",
                extra={
                    "correlation_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": getattr(scope.get("route"), "path", None),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "credential": headers.get("x-api-key") or headers.get("authorization"),
                },
            )
