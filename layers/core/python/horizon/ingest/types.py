"""Small types shared by the ingest modules: the messages, the outcome, the publisher protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from horizon.jobs import Job

RemainingMs = Callable[[], int]
"""How many milliseconds the invocation has left (Lambda's `get_remaining_time_in_millis`)."""

Entry = dict[str, Any]
"""A normalized, valid log entry as stored (see `horizon.ingest.validator`)."""


class ProgressPublisher(Protocol):
    """Pushes a job's current state to whoever watches it (WebSocket subscribers)."""

    def publish(self, job: Job) -> None:
        """Announce `job`'s state; may raise, the ingest logs and carries on."""


class IngestOutcome(StrEnum):
    """What one call of the service ended with. Every outcome acknowledges the message."""

    COMPLETED = "completed"  # the file was read to its end
    CONTINUED = "continued"  # time ran low: checkpointed and handed to a continuation message
    FAILED = "failed"  # the job was marked failed (object gone, retries exhausted)
    ALREADY_FINISHED = "already_finished"  # a redelivery after the job ended: nothing to do
    LEASE_LOST = "lease_lost"  # another worker took the job over: it carries on
    DEFERRED = "deferred"  # leased elsewhere on the last delivery: re-checked later
    SKIPPED = "skipped"  # test events, unknown keys, missing jobs, malformed messages


@dataclass(frozen=True)
class IngestRequest:
    """One job to ingest, parsed from an ingest-queue message.

    Attributes:
        owner: the tenant owning the job.
        job_id: the job's id.
        object_key: the S3 key named by an S3 notification (None for continuations).
        size: the object size the notification reported, if any.
    """

    owner: str
    job_id: str
    object_key: str | None = None
    size: int | None = None
