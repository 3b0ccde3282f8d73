"""The task queue's DLQ consumer: end failed the tasks whose messages the queue gave up on.

A message reaches the DLQ after `maxReceiveCount` deliveries that each failed (a dependency
kept failing, or the worker crashed every time). Its task is ended `failed` with the reason,
in the same conditional transaction as the batch's counts, unless it ended meanwhile. A task
another message's worker still runs under a live lease is left to it (the DLQ message comes
back after the DLQ's visibility timeout).
"""

from __future__ import annotations

import logging
from enum import StrEnum

from pydantic import ValidationError

from horizon import wiring
from horizon.batches.exceptions import RetryLaterError
from horizon.batches.models import TaskMessage, TaskStatus
from horizon.batches.progress import BatchProgress
from horizon.batches.store import BatchStore
from horizon.clock import epoch_s
from horizon.lazy import Collaborator

logger = logging.getLogger(__name__)


class Settled(StrEnum):
    FAILED = "failed"  # ended failed now
    ALREADY_ENDED = "already_ended"
    DROPPED = "dropped"  # malformed, or no such task


class BatchTaskFailures:
    """Ends failed the tasks of dead-lettered messages.

    Args:
        store, progress: collaborators, made lazily when omitted.
    """

    store = Collaborator(BatchStore)
    progress = Collaborator(BatchProgress)

    def __init__(
        self, store: BatchStore | None = None, progress: BatchProgress | None = None
    ) -> None:
        self._store, self._progress = store, progress

    def handle(self, body: str) -> Settled:
        """Settle the task one DLQ message names.

        Raises:
            RetryLaterError: another worker runs the task under a live lease.
            DependencyError: DynamoDB failed (the DLQ message comes back).
        """
        try:
            message = TaskMessage.model_validate_json(body)
        except ValidationError:
            logger.warning("dropping a malformed DLQ message")
            return Settled.DROPPED
        task = self.store.get_task(message.batch_id, message.index)
        if task is None or task.owner != message.owner:
            return Settled.DROPPED
        if task.status.finished:
            return Settled.ALREADY_ENDED
        if task.status is TaskStatus.RUNNING and (task.lease_until or 0) >= epoch_s():
            raise RetryLaterError(f"task {task.batch_id}#{task.index} is running elsewhere")
        deliveries = wiring.queue("batch_tasks").max_receive_count
        error = (
            f"gave up after {deliveries} deliveries of the task failed "
            "(the worker could not process it; see its logs)"
        )
        if not self.store.finish(task, TaskStatus.FAILED, error=error):
            return Settled.ALREADY_ENDED  # it moved meanwhile: the next delivery decides
        self.progress.task_ended(task.batch_id)
        return Settled.FAILED
