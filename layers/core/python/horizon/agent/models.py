"""The agent's plain types: task status, steps, chunks, and the protocol's messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Stream = Literal["stdout", "stderr"]

# Task ids are server-made UUIDs; anything else is refused before it reaches a key.
_TASK_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def is_task_id(value: Any) -> bool:
    """Return whether `value` looks like a task id."""
    return isinstance(value, str) and bool(_TASK_ID.match(value))


class TaskStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    @property
    def finished(self) -> bool:
        return self not in (TaskStatus.STARTING, TaskStatus.RUNNING)


@dataclass(frozen=True)
class Step:
    """One process of a plan.

    Attributes:
        argv: the program and its arguments (a shell command is `sh -c <text>`).
        label: what the step does, in words.
        enters: a directory (relative to the step's cwd) later steps run in, e.g. a clone.
    """

    argv: tuple[str, ...]
    label: str
    enters: str | None = None


@dataclass(frozen=True)
class TaskRecord:
    """A task's stored record (seq 0 of its partition)."""

    task_id: str
    owner: str
    task: str
    status: TaskStatus
    created_at: str
    connection_id: str | None = None
    request_id: str | None = None
    cancel_requested: bool = False
    closed: bool = False  # every subscriber known at the end was served; see delivery.py
    # Liveness (see horizon.agent.reaper): the epoch second the lease ends, the task
    # process's pid, and per connection (token, last seq pushed) as of the last heartbeat.
    lease_until: int | None = None
    pid: int | None = None
    cursors: dict[str, tuple[str, int]] = field(default_factory=dict)

    def lease_lapsed(self, now: int) -> bool:
        """Whether the task should be running but nothing has renewed its lease."""
        return not self.closed and self.lease_until is not None and self.lease_until < now


@dataclass(frozen=True)
class Chunk:
    """One stored message of a task: an output chunk or the final exit."""

    seq: int
    message: dict[str, Any] = field(default_factory=dict)

    @property
    def is_exit(self) -> bool:
        return self.message.get("type") == "exit"


def accepted(task_id: str, request_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "accepted", "task_id": task_id}
    if request_id is not None:
        message["request_id"] = request_id
    return message


def output(task_id: str, seq: int, stream: Stream, data: str, base64: bool) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "output",
        "task_id": task_id,
        "seq": seq,
        "stream": stream,
        "data": data,
    }
    if base64:
        message["encoding"] = "base64"
    return message


def exit_message(
    task_id: str, seq: int, status: TaskStatus, exit_code: int | None, error: str | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "exit",
        "task_id": task_id,
        "seq": seq,
        "status": status.value,
        "exit_code": exit_code,
    }
    if error:
        message["error"] = error
    return message
