"""Batches: `POST /batch`, `GET /batch/{batch_id}`, `GET /batch` (paths as the requirements
name them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, status

from horizon.api.deps import IdempotencyKey, Owner
from horizon.api.openapi import error_responses
from horizon.batches.models import BatchAccepted, BatchList, BatchPublic, TaskStatus
from horizon.batches.service import BatchService
from horizon.idempotency import run_once

router = APIRouter(tags=["batches"])


def batch_service() -> BatchService:
    return BatchService()


Batches = Annotated[BatchService, Depends(batch_service)]


# The body is validated by the service (messages naming the index, 413 by count), so FastAPI
# takes it as any JSON; its schema is documented here, inline (no component to resolve).
_TASK_TEXT = {"type": "string", "minLength": 1, "maxLength": 4096}
_BODY_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1000,
    "items": {
        "anyOf": [
            _TASK_TEXT,
            {
                "type": "object",
                "properties": {
                    "task": _TASK_TEXT,
                    "client_ref": {"type": ["string", "null"], "maxLength": 256},
                },
                "required": ["task"],
                "additionalProperties": False,
            },
        ]
    },
}

_ERRORS = error_responses(
    401,
    503,
    described={
        404: "No such batch (or another owner's)",
        409: "The same Idempotency-Key is still in progress",
        413: "More tasks than BATCH_MAX_TASKS (1000)",
        422: "Malformed batch (the detail names the index)",
    },
)

_POST_DOC = """Tasks in words, e.g. "Download the HTML content of https://example.com/ and count
the number of words in the `<body>` tag" or a shell command such as `echo hi`. Answers at once;
the tasks are created and queued in the background. Poll `status_url` or subscribe over the
WebSocket with `{"action": "subscribe", "batch_id"}`. The same `Idempotency-Key` with the same
body within 24 h answers the same batch and queues nothing again."""


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchAccepted,
    responses={code: _ERRORS[code] for code in (401, 409, 413, 422, 503)},
    description=_POST_DOC,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BODY_SCHEMA}},
            "description": "A JSON array of tasks: strings, or objects {task, client_ref?}",
        }
    },
)
def create_batch(
    request: Request,
    owner: Owner,
    service: Batches,
    idempotency_key: IdempotencyKey,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    """Accept a batch of tasks."""
    return run_once(
        "create-batch",
        owner,
        idempotency_key,
        body,
        lambda: service.create(owner, body).model_dump(mode="json"),
        lambda_context=request.scope.get("aws.context"),
    )


@router.get(
    "/batch",
    response_model=BatchList,
    responses={code: _ERRORS[code] for code in (401, 422, 503)},
)
def list_batches(
    owner: Owner,
    service: Batches,
    limit: Annotated[int | None, Query(ge=1, le=100)] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> BatchList:
    """The caller's batches, newest first, a page at a time (`next_cursor`)."""
    return service.list(owner, limit, cursor)


@router.get(
    "/batch/{batch_id}",
    response_model=BatchPublic,
    responses={code: _ERRORS[code] for code in (401, 404, 422, 503)},
)
def get_batch(
    owner: Owner,
    service: Batches,
    batch_id: str,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    task_status: Annotated[TaskStatus | None, Query(alias="status")] = None,
) -> BatchPublic:
    """The batch's counts and a page of its tasks in index order (`?status=failed` filters)."""
    return service.describe(owner, batch_id, limit, cursor, task_status)
