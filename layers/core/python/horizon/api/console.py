"""The web console: static files at `/console/`, and `/console/config.json` telling it where
the WebSocket API is.

The console is plain HTML, CSS and ES modules in the `console/` folder beside this module, so
it ships in the core layer with the API function and runs on the public API only. None of it
is in the OpenAPI document: the fuzz test and the API's contract do not change.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from horizon.api.console_headers import CONSOLE_DIR, SECURITY_HEADERS
from horizon.identity import IdentityService
from horizon.settings import get_settings

MOUNT_PATH = "/console"


class ConsoleConfig(BaseModel):
    """What the console cannot know from its own URL."""

    ws_url: str | None
    # The REST API's base URL when the console is served from elsewhere (CloudFront,
    # `infra.console`); None when the API serves it, whose parent URL is the API.
    api_url: str | None = None
    # Whether calls need a credential: the console asks for a key first instead of learning
    # it from a 401 (which the browser would log as an error).
    sign_in_required: bool


class ConsoleFiles(StaticFiles):
    """StaticFiles whose every answer (404s included) carries the security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as error:
            # StaticFiles raises its 404/405; answered here, as JSON like every API error.
            response = JSONResponse({"detail": error.detail}, status_code=error.status_code)
        response.headers.update(SECURITY_HEADERS)
        return response


def websocket_url(configured: str | None, callback_url: str) -> str | None:
    """The console's WebSocket URL: the configured one, else the deployed API's, else None.

    Args:
        configured: CONSOLE_WS_URL.
        callback_url: the @connections endpoint, `https://{api}.execute-api.{region}.amazonaws.com/{stage}`
            in AWS; the clients' URL is the same with `wss://`.

    Returns:
        The URL, or None for "the console's own host, `/ws`" (the local stack).
    """
    if configured:
        return configured
    parts = urlsplit(callback_url)
    if parts.scheme == "https" and parts.hostname and parts.hostname.endswith(".amazonaws.com"):
        return parts._replace(scheme="wss").geturl().rstrip("/")
    return None


def console_config() -> ConsoleConfig:
    settings = get_settings()
    return ConsoleConfig(
        ws_url=websocket_url(settings.console_ws_url, settings.websocket_callback_url),
        sign_in_required=IdentityService(settings=settings).credentials_configured(),
    )


def console_redirect() -> RedirectResponse:
    # Relative, so that behind an API Gateway stage `/prod/console` goes to `/prod/console/`.
    return RedirectResponse("console/", headers=SECURITY_HEADERS)


def install(app: FastAPI) -> None:
    """Serve the console at `/console/` (routes first: the mount would shadow config.json)."""
    app.add_api_route(MOUNT_PATH, console_redirect, include_in_schema=False)
    app.add_api_route(
        f"{MOUNT_PATH}/config.json",
        console_config,
        response_model=ConsoleConfig,
        # `api_url` is left out rather than sent as null: the console is at the API's URL.
        response_model_exclude_defaults=True,
        include_in_schema=False,
    )
    app.mount(MOUNT_PATH, ConsoleFiles(directory=CONSOLE_DIR, html=True), name="console")
