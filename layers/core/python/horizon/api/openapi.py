"""The error answers every operation may give, documented once in the OpenAPI document.

Every error is `ErrorBody` (`horizon.api.errors`): `{"detail", "code", "request_id"}`, a
422 adding `errors`. The document says so for every operation, with the statuses any of them
may answer (no or a bad credential, a role that may not, invalid input, a limit, a backing
service down, a fault), 404 for every operation with a path parameter, and the statuses a
route names itself through `error_responses(...)`.
An independent fuzzer (schemathesis, `tests/integration/test_api_fuzz.py`) holds the API to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from horizon.api.errors import ErrorBody
from horizon.api.examples import document_examples

# Statuses any authenticated operation may answer, whatever it does.
COMMON_STATUSES = (401, 403, 422, 429, 500, 503)
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
    422: "Invalid input: a reason (and for a malformed request, `errors` with locations)",
    429: "Over a limit: see Retry-After",
    500: "Internal error (no stack trace; quote request_id)",
    503: "A backing service failed; retry",
}
ERROR_SCHEMA_REF = "#/components/schemas/ErrorBody"
# FastAPI documents its 422 with these; every 422 answers ErrorBody instead.
_FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _response(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
    }


def error_responses(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's own error statuses (413, 415, 409, ...).

    Args:
        statuses: statuses with their usual description.
        described: more statuses, each with the description this route gives it.
    """
    answers: dict[int | str, dict[str, Any]] = {status: _response(status) for status in statuses}
    for status, description in (described or {}).items():
        answers[status] = _response(status, description)
    return answers


def error_schemas() -> dict[str, Any]:
    """ErrorBody and the schemas it refers to, as `components.schemas` entries."""
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = schema.pop("$defs", {})
    return {**nested, "ErrorBody": schema}


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers to every operation of an OpenAPI document (in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_422_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(error_schemas())
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            statuses = [] if path in PUBLIC_PATHS else list(COMMON_STATUSES)
            if "{" in path:
                statuses.append(404)
            for status in statuses:
                responses.setdefault(str(status), _response(status))
            if "422" in responses:
                # FastAPI documented its own HTTPValidationError here; the answer is ErrorBody.
                responses["422"] = _response(422)
    return document


def install(app: FastAPI) -> None:
    """Make `app.openapi()` document the error answers and examples (FastAPI builds it once,
    then caches)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_examples(document_errors(build()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
