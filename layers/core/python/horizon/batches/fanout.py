"""The fan-out: a batch's manifest becomes task records and task messages.

Tasks are created `CHUNK` at a time, each chunk in one transaction that also moves the batch's
`created` cursor (on the condition that it is where this fan-out read it); then the chunk's
messages go out with SendMessageBatch (10 a call, failed entries retried with backoff) and the
`enqueued` cursor follows. A fan-out that dies midway is resumed by the redelivery of its
message: it re-sends the messages of [enqueued, created) (a duplicate is harmless, workers move
tasks conditionally) and goes on from `created`. A second fan-out of the same batch loses the
cursor race and stops: no task is ever created twice or overwritten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import orjson
from pydantic import ValidationError

from horizon.batches.manifest import ManifestStore
from horizon.batches.models import Batch, FanOutMessage, TaskMessage
from horizon.batches.settings import get_batch_settings
from horizon.batches.store import BatchStore
from horizon.errors import DependencyError, NotFoundError
from horizon.lazy import Collaborator, aws_client
from horizon.sqs import send_messages

logger = logging.getLogger(__name__)

CHUNK = 50  # task records per transaction (≤ 100 items, well under 4 MB)


class FanOutOutcome(StrEnum):
    DONE = "done"  # every task has its record and message
    LOST_RACE = "lost_race"  # another fan-out of the batch moved its cursor first
    DROPPED = "dropped"  # malformed, or no such batch


class FanOut:
    """Fans out batches.

    Args:
        store, manifests, sqs: collaborators, made lazily when omitted.
        sleep: how to wait between retries of failed entries (tests pass a fake).
    """

    store = Collaborator(BatchStore)
    manifests = Collaborator(ManifestStore)
    sqs = aws_client("sqs")

    def __init__(
        self,
        store: BatchStore | None = None,
        manifests: ManifestStore | None = None,
        sqs: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store, self._manifests, self._sqs = store, manifests, sqs
        self._sleep = sleep
        self._queue_url = get_batch_settings().tasks_queue_url

    def handle(self, body: str) -> FanOutOutcome:
        """Fan out the batch a fan-out message names.

        Raises:
            DependencyError: S3, DynamoDB or SQS failed; the redelivery resumes.
        """
        try:
            message = FanOutMessage.model_validate_json(body)
        except ValidationError:
            logger.warning("dropping a malformed fan-out message")
            return FanOutOutcome.DROPPED
        try:
            batch = self.store.get(message.batch_id, message.owner)
        except NotFoundError:
            logger.warning("dropping the fan-out of unknown batch %s", message.batch_id)
            return FanOutOutcome.DROPPED
        return self.fan_out(batch)

    def fan_out(self, batch: Batch) -> FanOutOutcome:
        """Create and enqueue the batch's tasks from its cursors on."""
        if batch.enqueued >= batch.task_count:
            return FanOutOutcome.DONE
        if batch.enqueued < batch.created:  # a fan-out died between its create and its send
            self._send(batch, batch.enqueued, batch.created)
        tasks = self.manifests.get(batch.owner, batch.batch_id)
        for start in range(batch.created, batch.task_count, CHUNK):
            chunk = tasks[start : start + CHUNK]
            if not self.store.create_tasks(batch, start, chunk):
                logger.info("batch %s is fanned out by another delivery", batch.batch_id)
                return FanOutOutcome.LOST_RACE
            self._send(batch, start, start + len(chunk))
        return FanOutOutcome.DONE

    def _send(self, batch: Batch, start: int, end: int) -> None:
        bodies = [
            orjson.dumps(
                TaskMessage(batch_id=batch.batch_id, owner=batch.owner, index=index).model_dump()
            ).decode()
            for index in range(start, end)
        ]
        unsent = send_messages(self.sqs, self._queue_url, bodies, sleep=self._sleep)
        if unsent:
            raise DependencyError(f"could not queue {len(unsent)} of the batch's tasks")
        self.store.mark_enqueued(batch.batch_id, end)
