"""Executions and code sessions: their states, stored records and the API's bodies."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from horizon.executions.limits import (
    DEFAULT_MEMORY_MB,
    DEFAULT_OUTPUT_BYTES,
    DEFAULT_TIMEOUT_S,
    MAX_MEMORY_MB,
    MAX_OUTPUT_BYTES,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
)

# The languages the sandbox runs, each with the code a new session starts from. Python comes
# with pandas, numpy and scipy already imported in the fork server.
TEMPLATES: dict[str, str] = {
    "python": (
        "# Python 3 with pandas, numpy and scipy available.\n"
        "import pandas as pd\n"
        "\n"
        'df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.5, 6.5]})\n'
        'print(df["b"].mean())\n'
    ),
}
LANGUAGES = tuple(TEMPLATES)

_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def is_id(value: str) -> bool:
    """Return whether `value` can be an execution or session id (server-made UUIDs)."""
    return bool(_ID.match(value))


class ExecutionStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"

    @property
    def finished(self) -> bool:
        return self not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


class Limits(BaseModel):
    """What a run may use; a request can lower the defaults or raise them up to the caps."""

    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, ge=MIN_TIMEOUT_S, le=MAX_TIMEOUT_S)
    memory_mb: int = Field(default=DEFAULT_MEMORY_MB, ge=32, le=MAX_MEMORY_MB)
    output_bytes: int = Field(default=DEFAULT_OUTPUT_BYTES, ge=1, le=MAX_OUTPUT_BYTES)


class RunBody(Limits):
    """How to run: stdin and the limits. `POST /code-sessions/{id}/run` (optional there: the
    session's saved code runs) and the base of `POST /execute`. Unknown fields are refused
    (422): a request cannot believe it switched something on, such as network access."""

    model_config = ConfigDict(extra="forbid")

    stdin: str = Field(default="", description="What the program reads on standard input")

    def limits(self) -> Limits:
        return Limits.model_validate(self.model_dump(include=set(Limits.model_fields)))


class ExecuteBody(RunBody):
    """`POST /execute`."""

    language: str = Field(description=f"One of: {', '.join(LANGUAGES)}")
    code: str = Field(description="The program's source")


class Transition(BaseModel):
    """One state change: into `status` at `at` (ISO 8601 UTC), on run attempt `attempt`."""

    status: ExecutionStatus
    at: str
    attempt: int = 0


class Execution(BaseModel):
    """An execution as stored (without its output, which lives in items of its own)."""

    execution_id: str
    owner: str
    status: ExecutionStatus
    language: str
    code: str
    stdin: str = ""
    limits: Limits
    session_id: str | None = None
    timestamps: dict[str, str] = Field(default_factory=dict)
    transitions: list[Transition] = Field(default_factory=list)
    attempts: int = 0
    lease_until: int | None = None
    exit_code: int | None = None
    error: str | None = None
    execution_time_ms: int | None = None
    truncated: bool = False


class ExecutionAccepted(BaseModel):
    """The answer when the result is not there yet: poll `GET /executions/{execution_id}`."""

    execution_id: str
    status: ExecutionStatus


class ExecutionPublic(BaseModel):
    """`GET /executions/{id}` and a finished `POST /execute`."""

    execution_id: str
    status: ExecutionStatus
    language: str
    session_id: str | None = None
    timestamps: dict[str, str] = Field(
        description="When the execution last entered each state it went through (ISO 8601 UTC)"
    )
    transitions: list[Transition] = Field(
        description="Every state change in order, with the run attempt (a sandbox failure "
        "sends an execution back to QUEUED for another attempt)"
    )
    stdout: str | None = None
    stderr: str | None = None
    exit_code: int | None = None
    error: str | None = Field(
        default=None, description="For FAILED and TIMEOUT: what happened, in words"
    )
    execution_time_ms: int | None = None
    truncated: bool = False

    @classmethod
    def of(cls, execution: Execution, stdout: str | None, stderr: str | None) -> ExecutionPublic:
        return cls(
            execution_id=execution.execution_id,
            status=execution.status,
            language=execution.language,
            session_id=execution.session_id,
            timestamps=execution.timestamps,
            transitions=execution.transitions,
            stdout=stdout,
            stderr=stderr,
            exit_code=execution.exit_code,
            error=execution.error,
            execution_time_ms=execution.execution_time_ms,
            truncated=execution.truncated,
        )


class SessionCreate(BaseModel):
    """`POST /code-sessions`: without `source_code` the language's template is used."""

    model_config = ConfigDict(extra="forbid")

    language: str = "python"
    source_code: str | None = None


class SessionPatch(BaseModel):
    """`PATCH /code-sessions/{id}`: saves; never runs. With `version`, the save happens only
    if the session is still at that version (409 otherwise); without it, the last write wins."""

    language: str | None = None
    source_code: str | None = None
    version: int | None = Field(default=None, ge=1)


class CodeSession(BaseModel):
    """A code session as stored and returned."""

    session_id: str
    status: str = "ACTIVE"
    language: str
    source_code: str
    version: int
    created_at: str
    updated_at: str

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> CodeSession:
        return cls.model_validate({k: v for k, v in item.items() if k in cls.model_fields})
