"""Batches and their tasks: states, stored records, messages and the API's bodies."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Batch ids are server-made UUIDs; anything else is refused before it reaches a key.
_BATCH_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def is_batch_id(value: Any) -> bool:
    """Return whether `value` can be a batch id."""
    return isinstance(value, str) and bool(_BATCH_ID.match(value))


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"

    @property
    def finished(self) -> bool:
        return self not in (TaskStatus.QUEUED, TaskStatus.RUNNING)


class BatchStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"


class TaskInput(BaseModel):
    """One task as posted: its text and the caller's own reference, if any."""

    model_config = ConfigDict(extra="forbid")

    task: str
    client_ref: str | None = None


class Counts(BaseModel):
    """How many of a batch's tasks are in each state; they always add up to the task count."""

    queued: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    timeout: int = 0

    @property
    def ended(self) -> int:
        return self.completed + self.failed + self.timeout


class Batch(BaseModel):
    """A batch's stored record (without its tasks).

    `created` and `enqueued` are the fan-out's cursors: tasks [0, created) have records,
    tasks [0, enqueued) have messages on the task queue (enqueued ≤ created).
    `fanout_requested_at` (epoch seconds) is when a read last re-sent the fan-out message.
    """

    batch_id: str
    owner: str
    task_count: int
    counts: Counts
    created_at: str
    completed_at: str | None = None
    created: int = 0
    enqueued: int = 0
    seq: int = 0
    fanout_requested_at: int | None = None

    @property
    def fanned_out(self) -> bool:
        """Whether every task has its record and its message."""
        return self.enqueued >= self.task_count

    @property
    def all_ended(self) -> bool:
        return self.counts.ended >= self.task_count

    @property
    def status(self) -> BatchStatus:
        # Completed once its completion is recorded, so `completed_at` is never null then.
        if self.completed_at is not None:
            return BatchStatus.COMPLETED
        if self.counts.queued == self.task_count:
            return BatchStatus.QUEUED
        return BatchStatus.RUNNING


class TaskRecord(BaseModel):
    """A task's stored record."""

    batch_id: str
    owner: str
    index: int
    task: str
    client_ref: str | None = None
    task_count: int | None = None  # of its batch, to know how much of it one task is
    status: TaskStatus = TaskStatus.QUEUED
    attempts: int = 0
    claimed_by: str | None = None
    lease_until: int | None = None
    exit_code: int | None = None
    result: Any = None
    stdout: str | None = None
    stderr: str | None = None
    error: str | None = None
    created_at: str
    started_at: str | None = None
    ended_at: str | None = None


class TaskMessage(BaseModel):
    """The body of a task queue message: which task to run."""

    batch_id: str = Field(pattern=_BATCH_ID.pattern)
    owner: str
    index: int = Field(ge=0)


class FanOutMessage(BaseModel):
    """The body of the fan-out queue's message: which batch to fan out."""

    batch_id: str = Field(pattern=_BATCH_ID.pattern)
    owner: str


# -- the API's bodies ---------------------------------------------------------------------


class BatchAccepted(BaseModel):
    batch_id: str
    status: BatchStatus = BatchStatus.QUEUED
    task_count: int
    status_url: str


class TaskPublic(BaseModel):
    index: int
    task: str
    client_ref: str | None = None
    status: TaskStatus
    exit_code: int | None = None
    result: Any = Field(
        default=None,
        description='Word counting: {"url", "words"} for one URL, a list of them for several.',
    )
    stdout: str | None = Field(default=None, description="The end of the task's stdout")
    stderr: str | None = Field(default=None, description="The end of the task's stderr")
    error: str | None = None
    attempts: int = 0
    started_at: str | None = None
    ended_at: str | None = None

    @classmethod
    def of(cls, record: TaskRecord) -> TaskPublic:
        return cls.model_validate(record.model_dump(exclude={"owner", "batch_id", "task_count"}))


class BatchPublic(BaseModel):
    batch_id: str
    status: BatchStatus
    task_count: int
    counts: Counts
    created_at: str
    completed_at: str | None = None
    tasks: list[TaskPublic] = Field(default_factory=list)
    next_cursor: str | None = None


class BatchSummary(BaseModel):
    batch_id: str
    status: BatchStatus
    task_count: int
    counts: Counts
    created_at: str
    completed_at: str | None = None
    status_url: str


class BatchList(BaseModel):
    batches: list[BatchSummary]
    next_cursor: str | None = None


def status_url(batch_id: str) -> str:
    return f"/batch/{batch_id}"
