"""Executions the execute queue gave up on: ended FAILED as their messages reach its DLQ.

A message moves to the DLQ after `max_receive_count` deliveries that no worker settled: a
worker vanished every time (killed, out of memory, its DynamoDB calls failing). No worker will
come back for such an execution, so it is ended FAILED at once, with an error in words, and
its owner's counters are released; before this, that happened only when someone read it
(`ExecutionService.describe`, after `EXECUTIONS_LOST_AFTER_S`), which stays as the fallback.

Every outcome is safe to repeat: `ExecutionStore.finish` is conditional on the status and
attempt as read, so a redelivered DLQ message, or a worker whose result lands first, leaves
exactly one ending and the counters moved once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from horizon.clock import epoch_s
from horizon.errors import HorizonError, NotFoundError
from horizon.executions.models import Execution, ExecutionStatus
from horizon.executions.service import log_transition, parse_message
from horizon.executions.store import ExecutionStore
from horizon.lazy import Collaborator

logger = logging.getLogger(__name__)

# What the owner reads as the execution's error: what happened, no internals.
WORKER_STOPPED = "the sandbox worker stopped during the run"
NEVER_TAKEN = "no sandbox worker could take the execution"
# Reads of an execution that keeps changing between the read and the conditional write (a
# worker moving it at the same moment) before the message is put back for later.
MAX_LOOKS = 3


class Outcome(StrEnum):
    """What handling one DLQ message did."""

    ENDED = "ended"  # the execution was unfinished and is now FAILED
    ALREADY_FINISHED = "already_finished"  # a worker's ending, or this message's, came first
    UNKNOWN = "unknown"  # no such execution (expired): nothing to do
    MALFORMED = "malformed"  # not a message about an execution: dropped


class ExecutionFailureError(HorizonError):
    """The execution cannot be settled now; the DLQ message is to come back later."""


class ExecutionHeldError(ExecutionFailureError):
    """A worker's claim on the execution has not lapsed: that worker may still store a result.

    The message comes back after the DLQ's visibility timeout, which outlasts any claim.
    """


class ExecutionMovingError(ExecutionFailureError):
    """The execution changed between every read and the conditional write (`MAX_LOOKS`)."""


def failure_reason(execution: Execution) -> str:
    """Return the error the owner reads for an unfinished execution no worker will finish."""
    return WORKER_STOPPED if execution.status == ExecutionStatus.RUNNING else NEVER_TAKEN


def is_held(execution: Execution, now: int) -> bool:
    """Return whether a worker's claim on a RUNNING execution is still current: its lease runs
    until `now` or later (the worker's own rule, `sandbox_task.worker`)."""
    return (
        execution.status == ExecutionStatus.RUNNING
        and execution.lease_until is not None
        and execution.lease_until >= now
    )


class ExecutionFailures:
    """Ends FAILED the unfinished executions whose messages reached the execute queue's DLQ.

    Args:
        store: the executions table; the shared one when omitted.
        clock: epoch seconds, for the claim's lease (injectable for tests).
    """

    store = Collaborator(ExecutionStore)

    def __init__(
        self, store: ExecutionStore | None = None, clock: Callable[[], int] = epoch_s
    ) -> None:
        self._store = store
        self._clock = clock

    def handle(self, body: str | bytes) -> Outcome:
        """Handle one DLQ message body.

        A body that names no execution is logged and dropped: it can never become valid, and
        the DLQ has no queue behind it, so putting it back would only bring it again every
        visibility timeout until its retention ends.

        Raises:
            ExecutionFailureError: the execution cannot be settled now (retry the message).
            DependencyError: DynamoDB failed (retry the message).
        """
        execution_id, _ = parse_message(body)
        if execution_id is None:
            logger.error("dropping a malformed execute DLQ message: %.200r", body)
            return Outcome.MALFORMED
        return self.end(execution_id)

    def end(self, execution_id: str) -> Outcome:
        """End the execution FAILED if it is unfinished and no worker holds it.

        Returns:
            ENDED, or ALREADY_FINISHED / UNKNOWN when there was nothing to do.

        Raises:
            ExecutionHeldError: a worker's claim is still current.
            ExecutionMovingError: the execution kept changing under the write.
            DependencyError: DynamoDB failed.
        """
        for _ in range(MAX_LOOKS):
            try:
                execution = self.store.get(execution_id)
            except NotFoundError:
                logger.warning(
                    "execution %s is gone (expired?); dropping its DLQ message",
                    execution_id,
                    extra={"execution_id": execution_id},
                )
                return Outcome.UNKNOWN
            if execution.status.finished:
                return Outcome.ALREADY_FINISHED
            if is_held(execution, self._clock()):
                raise ExecutionHeldError(
                    f"execution {execution_id} is held by a worker until {execution.lease_until}"
                )
            reason = failure_reason(execution)
            if self.store.finish(execution, ExecutionStatus.FAILED, error=reason):
                log_transition(
                    execution_id,
                    ExecutionStatus.FAILED.value,
                    error=reason,
                    attempt=execution.attempts,
                    cause="dead-letter queue",
                )
                return Outcome.ENDED
            # It moved on between the read and the write (a worker's claim or result): look
            # again at where it stands now.
        raise ExecutionMovingError(f"execution {execution_id} kept changing; retrying later")
