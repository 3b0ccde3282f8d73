"""CORS from the settings: only the origins in `CORS_ALLOW_ORIGINS` may call from a browser.

With none configured (the default) the API sends no CORS headers at all and browsers keep
other sites' pages out. Credentials (cookies, `Authorization` sent by the browser) are allowed
only when `CORS_ALLOW_CREDENTIALS` is set, and the settings refuse that together with `*`:
with credentials Starlette would echo any origin, which lets every site call as the user.
Preflights are cached by browsers for `CORS_MAX_AGE_S`.

The settings are read per request (cached by `get_settings`), not when the app is built, so
tests and the local stack can configure the environment first.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from horizon.api.errors import error_response
from horizon.api.request_log import HEADER as REQUEST_ID_HEADER
from horizon.settings import Settings, get_settings

ALLOW_METHODS = ("GET", "POST", "PATCH", "DELETE", "OPTIONS")
ALLOW_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-API-Key", REQUEST_ID_HEADER)
# What a browser's script may read of an answer besides the safelisted headers.
EXPOSE_HEADERS = (
    REQUEST_ID_HEADER,
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)


class _Cors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the API's error shape."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        is_preflight = (
            scope["method"] == "OPTIONS"
            and "origin" in headers
            and "access-control-request-method" in headers
        )
        if not is_preflight:
            await super().__call__(scope, receive, send)
            return
        answer = self.preflight_response(request_headers=headers)
        if answer.status_code >= 400:
            # Starlette's reason ("Disallowed CORS origin") as the detail; its headers (Vary,
            # no Allow-Origin for a refused origin) unchanged.
            refused = dict(answer.headers)
            for name in ("content-length", "content-type"):
                refused.pop(name, None)
            reason = bytes(answer.body).decode()
            answer = error_response(scope, answer.status_code, reason, headers=refused)
        await answer(scope, receive, send)


class SettingsCorsMiddleware:
    """Applies the CORS settings; without allowed origins it passes everything through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._built: tuple[tuple[str, ...], bool, int, ASGIApp] | None = None

    def _cors(self, settings: Settings) -> ASGIApp:
        key = (settings.cors_origins(), settings.cors_allow_credentials, settings.cors_max_age_s)
        if self._built is None or self._built[:3] != key:
            origins, credentials, max_age = key
            cors = _Cors(
                self.app,
                allow_origins=origins,
                allow_methods=ALLOW_METHODS,
                allow_headers=ALLOW_HEADERS,
                allow_credentials=credentials,
                expose_headers=EXPOSE_HEADERS,
                max_age=max_age,
            )
            self._built = (*key, cors)
        return self._built[3]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        if not settings.cors_origins():
            await self.app(scope, receive, send)
            return
        await self._cors(settings)(scope, receive, send)
