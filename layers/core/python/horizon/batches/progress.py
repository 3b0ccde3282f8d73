"""A batch's progress: its `completed_at` once every task ended, and WebSocket updates.

After each task's ending the batch is read again (strongly); an update goes to its subscribers
when the ended tasks reach a new tenth of the batch (claimed once on the batch record, so
concurrent workers publish each tenth once) and when the batch completes. Updates are a side
channel: they never raise into the work they report on.
"""

from __future__ import annotations

import logging
from typing import Any

from horizon.batches.models import Batch
from horizon.batches.store import BatchStore
from horizon.errors import HorizonError
from horizon.lazy import Collaborator
from horizon.realtime.connections import batch_topic
from horizon.realtime.publisher import JobProgressPublisher

logger = logging.getLogger(__name__)


def batch_message(batch: Batch) -> dict[str, Any]:
    """The `batch` message: the batch's counts; `seq` grows with every transition."""
    message: dict[str, Any] = {
        "type": "batch",
        "batch_id": batch.batch_id,
        "seq": batch.seq,
        "status": batch.status.value,
        "task_count": batch.task_count,
        "counts": batch.counts.model_dump(),
    }
    if batch.completed_at is not None:
        message["completed_at"] = batch.completed_at
    return message


def decile(batch: Batch) -> int:
    return batch.counts.ended * 10 // batch.task_count


class BatchProgress:
    """Records completion and publishes progress after a task ended.

    Args:
        store, publisher: collaborators, made lazily when omitted.
    """

    store = Collaborator(BatchStore)
    publisher = Collaborator(JobProgressPublisher)

    def __init__(
        self, store: BatchStore | None = None, publisher: JobProgressPublisher | None = None
    ) -> None:
        self._store, self._publisher = store, publisher

    def task_ended(self, batch_id: str) -> Batch:
        """Call after a task's ending was stored; returns the batch as read then.

        Raises:
            DependencyError: the batch could not be read or its completion not recorded
                (a redelivery of the task's message finds the task ended and tries again).
        """
        batch = self.store.get(batch_id)
        completed = batch.all_ended and self.store.mark_completed(batch_id, batch.task_count)
        if completed:
            batch = self.store.get(batch_id)
        try:
            tenth = decile(batch)
            if completed or (tenth > 0 and self.store.claim_decile(batch_id, tenth)):
                self.publisher.publish_to(batch_topic(batch.owner, batch_id), batch_message(batch))
        except HorizonError as error:
            logger.warning("could not publish the progress of batch %s: %s", batch_id, error)
        return batch
