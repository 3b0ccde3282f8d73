"""Serving `/docs` and `/openapi.json` behind an API Gateway stage.

Behind `https://{api}.execute-api.{region}.amazonaws.com/{stage}` the REST proxy event's
`path` has no stage, but the browser's URLs need it. Setting the ASGI `root_path` to
`/{stage}` makes FastAPI link the docs to `/{stage}/openapi.json` and list `/{stage}` as the
server. Locally (and behind a custom domain) nothing changes.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


def stage_root_path(event: dict[str, Any] | None) -> str:
    """Return the root path an API Gateway event implies ("" when none)."""
    context = (event or {}).get("requestContext") or {}
    domain = str(context.get("domainName") or "")
    stage = str(context.get("stage") or "")
    if domain.endswith(".amazonaws.com") and stage and stage != "$default":
        return f"/{stage}"
    return ""


class StageRootPathMiddleware:
    """Sets `root_path` from the event Mangum exposes as `scope["aws.event"]`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            root = stage_root_path(scope.get("aws.event"))
            if root:
                # Set in place: outer middleware (metrics) reads what the router adds later.
                scope["root_path"] = root
        await self.app(scope, receive, send)
