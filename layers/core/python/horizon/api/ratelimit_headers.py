"""Puts the caller's `X-RateLimit-*` figures on every answer, errors included.

`current_caller` counts the request and leaves the figures in the request's state; the answer
may come from the route, an exception handler or the internal-error middleware, so the headers
are added here, at the outermost layer that sees the response start. Headers already there win:
a route's own limit (the 429 of `/send-email`) tells about itself.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from horizon.api.deps import RATE_LIMIT_STATE


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                figures = state.get(RATE_LIMIT_STATE)
                if figures:
                    headers = MutableHeaders(scope=message)
                    for name, value in figures.items():
                        if name not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
