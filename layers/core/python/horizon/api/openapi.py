"""The error answers every operation may give, documented once in the OpenAPI document.

Every error is JSON `{"detail": ...}` (`horizon.api.errors`): a reason as a string, or for a
body FastAPI refused, its list of validation errors. The document says so for every
operation, with the statuses any of them may answer (no or a bad credential, a role that may
not, a limit, a backing service down, a fault), 404 for every operation with a path
parameter, and the statuses a route names itself through `error_responses(...)`.
An independent fuzzer (schemathesis, `tests/integration/test_api_fuzz.py`) holds the API to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

# Statuses any authenticated operation may answer, whatever it does.
COMMON_STATUSES = (401, 403, 429, 500, 503)
# Operations that need no credential and count nothing.
PUBLIC_PATHS = frozenset({"/health", "/health/ready"})
DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, unknown or revoked credential",
    403: "The credential's role may not do this",
    404: "Not found (or another tenant's)",
    409: "Conflict: the item changed, or the same Idempotency-Key is still in progress",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input: a reason, or the list of validation errors",
    429: "Over a limit: see Retry-After",
    500: "Internal error (no stack trace; quote request_id)",
    503: "A backing service failed; retry",
}


class ErrorBody(BaseModel):
    """Every error answer."""

    detail: str | list[dict[str, Any]] = Field(
        description="Why: a sentence, or FastAPI's list of validation errors",
        examples=["job 0 not found"],
    )
    request_id: str | None = Field(default=None, description="Quote it to support (5xx)")


def _response(status: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's own error statuses (413, 415, 409, ...)."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses
    }


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers to every operation of an OpenAPI document (in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            statuses = [] if path in PUBLIC_PATHS else [*COMMON_STATUSES, 422]
            if "{" in path:
                statuses.append(404)
            for status in statuses:
                responses.setdefault(str(status), _response(status))
            if "422" in responses:
                # horizon's own 422s carry a sentence; FastAPI's a list: ErrorBody takes both.
                responses["422"] = _response(422)
    return document


def install(app: FastAPI) -> None:
    """Make `app.openapi()` document the error answers (FastAPI builds it once, then caches)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
