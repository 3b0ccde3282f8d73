"""Failures of batches, one per mode."""

from __future__ import annotations

from horizon.errors import DependencyError, HorizonError, InvalidRequestError


class BatchInputError(InvalidRequestError):
    """The posted batch is malformed; the message names the task's index."""


class RetryLaterError(DependencyError):
    """The message cannot be handled now (a dependency failed); it comes back with backoff."""


class TaskRecordMissingError(HorizonError):
    """The task's record is not there although its message is (fan-out not done yet)."""
