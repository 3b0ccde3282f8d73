"""Code execution: `POST /execute`, code sessions, `GET /executions/{id}` (paths as the
requirements name them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response, status
from fastapi.responses import JSONResponse

from horizon.api.deps import Owner
from horizon.api.openapi import error_responses
from horizon.executions.models import (
    CodeSession,
    ExecuteBody,
    ExecutionAccepted,
    ExecutionPublic,
    RunBody,
    SessionCreate,
    SessionPatch,
)
from horizon.executions.service import ExecutionService

router = APIRouter(tags=["code execution"])


def execution_service() -> ExecutionService:
    return ExecutionService()


Executions = Annotated[ExecutionService, Depends(execution_service)]

_LIMITS_DOC = """Runs in a sandbox without network, with a private scratch directory, and
limits on time, memory and output (a request may choose within the caps; nothing widens the
sandbox). Statuses: QUEUED, RUNNING, COMPLETED (exit code 0), FAILED, TIMEOUT."""


@router.post(
    "/execute",
    response_model=ExecutionPublic,
    responses={
        202: {"model": ExecutionAccepted, "description": "Still running: poll it"},
        **error_responses(413),
    },
    description=_LIMITS_DOC,
)
def execute(owner: Owner, service: Executions, body: ExecuteBody) -> ExecutionPublic | Response:
    """Run code and answer with its result, or 202 with the id to poll when it takes longer
    than the wait bound."""
    answer = service.execute(owner, body.language, body.code, body.stdin, body.limits())
    if isinstance(answer, ExecutionAccepted):
        return JSONResponse(answer.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    return answer


@router.get("/executions/{execution_id}", response_model=ExecutionPublic)
def get_execution(owner: Owner, service: Executions, execution_id: str) -> ExecutionPublic:
    """An execution's status, the time of each transition, and once finished its output."""
    return service.describe(owner, execution_id)


@router.post(
    "/code-sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=CodeSession,
    responses=error_responses(413),
)
def create_session(owner: Owner, service: Executions, body: SessionCreate) -> CodeSession:
    """Start a code session (status ACTIVE) with the given code or the language's template."""
    return service.create_session(owner, body)


@router.get("/code-sessions/{session_id}", response_model=CodeSession)
def get_session(owner: Owner, service: Executions, session_id: str) -> CodeSession:
    return service.get_session(owner, session_id)


@router.patch(
    "/code-sessions/{session_id}", response_model=CodeSession, responses=error_responses(409, 413)
)
def save_session(
    owner: Owner, service: Executions, session_id: str, body: SessionPatch
) -> CodeSession:
    """Save language and/or code (autosave); never runs anything. With `version`, 409 when
    the session moved on; without it, the last write wins."""
    return service.save_session(owner, session_id, body)


@router.post(
    "/code-sessions/{session_id}/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExecutionAccepted,
    responses=error_responses(413),
    description=_LIMITS_DOC,
)
def run_session(
    owner: Owner,
    service: Executions,
    session_id: str,
    body: Annotated[RunBody | None, Body()] = None,
) -> ExecutionAccepted:
    """Queue the session's saved code; poll `GET /executions/{execution_id}`."""
    body = body or RunBody()
    return service.run_session(owner, session_id, body.stdin, body.limits())
