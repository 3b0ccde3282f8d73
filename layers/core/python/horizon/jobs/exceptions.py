"""Failure modes of the jobs store."""

from __future__ import annotations

from horizon.errors import ConflictError


class JobLeasedError(ConflictError):
    """Another worker holds an unexpired lease on the job; try again after it expires."""


class JobFinishedError(ConflictError):
    """The job is already completed or failed; there is nothing left to do."""


class LeaseLostError(ConflictError):
    """This worker's lease was taken over, or the checkpoint moved: stop without writing."""
