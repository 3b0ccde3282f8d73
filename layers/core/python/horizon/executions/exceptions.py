"""Errors of code execution that the API maps to statuses of their own."""

from __future__ import annotations

from horizon.errors import HorizonError, RateLimitedError


class TooManyExecutionsError(RateLimitedError):
    """The owner has as many executions queued or running as the limit allows (429)."""

    def __init__(self, retry_after_s: int = 2) -> None:
        super().__init__(
            "too many executions queued or running for this owner; retry later", retry_after_s
        )


class OwnerBusyError(HorizonError):
    """The owner has as many executions running as allowed: this one waits in the queue.

    Never reaches a caller: the worker leaves the message for later.
    """
