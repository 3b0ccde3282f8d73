"""The REST API: a FastAPI app (built by `create_app()`) served through Mangum.

`create_app` is imported lazily so that importing `horizon.api` for its helpers does not pull
FastAPI into the other functions' cold starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from horizon.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from horizon.api.app import create_app

        return create_app
    raise AttributeError(name)
