"""Messages the server sends over the WebSocket, as plain dicts (see ARCHITECTURE.md)."""

from __future__ import annotations

import re
from typing import Any

from horizon.email_jobs.models import EmailJob
from horizon.jobs import Job

# Job ids are server-made UUIDs; anything else cannot name a job and is refused early
# (ids end up inside DynamoDB keys joined with "#").
_JOB_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def is_job_id(value: Any) -> bool:
    """Return whether `value` looks like a job id."""
    return isinstance(value, str) and bool(_JOB_ID.match(value))


def progress(job: Job) -> dict[str, Any]:
    """Return the `progress` message for the job's current state.

    `seq` grows with every change of the job; clients drop messages whose seq is not newer
    than the last one they saw, so a snapshot racing a live update is harmless.
    """
    message: dict[str, Any] = {
        "type": "progress",
        "job_id": job.job_id,
        "seq": job.seq,
        "status": job.status.value,
        "percent": job.percent,
        "lines": job.counts.lines,
        "valid": job.counts.valid,
        "invalid": job.counts.invalid,
    }
    if job.error is not None:
        message["error"] = job.error
    if job.finished_at is not None:
        message["finished_at"] = job.finished_at
    return message


def email_progress(job: EmailJob) -> dict[str, Any]:
    """Return the `progress` message of an email job (`kind: "email"`).

    `seq` grows with every settled recipient, and once more when the job ends.
    """
    message: dict[str, Any] = {
        "type": "progress",
        "kind": "email",
        "job_id": job.job_id,
        "seq": job.done + (1 if job.status.finished else 0),
        "status": job.status.value,
        "percent": 100 * job.done // job.total_emails if job.total_emails else 100,
        "total_emails": job.total_emails,
        "sent": job.sent,
        "failed": job.failed,
    }
    if job.error is not None:
        message["error"] = job.error
    if job.completed_at is not None:
        message["finished_at"] = job.completed_at
    return message


def error(code: str, text: str) -> dict[str, Any]:
    """Return an `error` message; `code` is machine-readable (bad_request, not_found, ...)."""
    return {"type": "error", "code": code, "message": text}


def pong() -> dict[str, Any]:
    return {"type": "pong"}
