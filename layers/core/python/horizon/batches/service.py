"""The batch API's service: validate and accept a batch, describe it, list an owner's batches.

Accepting a batch costs the same whatever its size: one manifest PUT, one transaction (the
batch and its list entry), one fan-out message. The fan-out Lambda does the per-task work.

Once the batch is stored it is accepted: its record, not the message, is what says it must be
fanned out. A read that finds the fan-out unfinished `fanout_grace_s` later sends the message
again (the fan-out resumes from the batch's cursors, so a second message is harmless), which
covers an API that died, or an SQS that refused, between the write and the send.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from horizon import correlation
from horizon.batches.exceptions import BatchInputError
from horizon.batches.manifest import ManifestStore
from horizon.batches.models import (
    Batch,
    BatchAccepted,
    BatchList,
    BatchPublic,
    BatchSummary,
    Counts,
    FanOutMessage,
    TaskInput,
    TaskPublic,
    TaskStatus,
    is_batch_id,
    status_url,
)
from horizon.batches.progress import BatchProgress
from horizon.batches.settings import BatchSettings, get_batch_settings
from horizon.batches.store import BatchStore
from horizon.clock import epoch_of, now_iso
from horizon.dynamo import AWS_ERRORS
from horizon.errors import DependencyError, NotFoundError, PayloadTooLargeError
from horizon.lazy import Collaborator, aws_client

logger = logging.getLogger(__name__)


def parse_tasks(body: Any, settings: BatchSettings) -> list[TaskInput]:
    """Validate a posted batch: a non-empty JSON array of strings or {"task", "client_ref"?}.

    Raises:
        PayloadTooLargeError: more than `max_tasks` tasks (413).
        BatchInputError: anything else malformed, naming the index (422).
    """
    if not isinstance(body, list):
        raise BatchInputError("the body must be a JSON array of tasks")
    if not body:
        raise BatchInputError("the batch is empty: give at least one task")
    if len(body) > settings.max_tasks:
        raise PayloadTooLargeError(
            f"the batch has {len(body)} tasks; at most {settings.max_tasks} are accepted"
        )
    return [_task(index, item, settings) for index, item in enumerate(body)]


def _task(index: int, item: Any, settings: BatchSettings) -> TaskInput:
    client_ref = None
    if isinstance(item, dict):
        unknown = set(item) - {"task", "client_ref"}
        if unknown:
            raise BatchInputError(f"task {index}: unknown field {sorted(unknown)[0]!r}")
        client_ref = item.get("client_ref")
        if client_ref is not None and not isinstance(client_ref, str):
            raise BatchInputError(f"task {index}: client_ref must be a string")
        if client_ref is not None and len(client_ref) > settings.max_client_ref_chars:
            raise BatchInputError(
                f"task {index}: client_ref is longer than {settings.max_client_ref_chars} "
                "characters"
            )
        if "task" not in item:
            raise BatchInputError(f"task {index}: the field 'task' is required")
        item = item["task"]
    if not isinstance(item, str):
        raise BatchInputError(f"task {index}: must be a string or an object with a 'task' string")
    if not item.strip():
        raise BatchInputError(f"task {index}: is empty")
    if len(item) > settings.max_task_chars:
        raise BatchInputError(f"task {index}: is longer than {settings.max_task_chars} characters")
    if "\x00" in item:
        raise BatchInputError(f"task {index}: contains a NUL character")
    return TaskInput(task=item, client_ref=client_ref)


class BatchService:
    """Accepts, describes and lists batches.

    Args:
        store, manifests, sqs, progress: collaborators, made lazily when omitted.
        clock: the Unix time now (tests pass a fake to step past the fan-out's grace).
    """

    store = Collaborator(BatchStore)
    manifests = Collaborator(ManifestStore)
    sqs = aws_client("sqs")
    progress = Collaborator(BatchProgress)

    def __init__(
        self,
        store: BatchStore | None = None,
        manifests: ManifestStore | None = None,
        sqs: Any = None,
        progress: BatchProgress | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store, self._manifests, self._sqs = store, manifests, sqs
        self._progress = progress
        self._clock = clock
        self.settings = get_batch_settings()

    def create(self, owner: str, body: Any) -> BatchAccepted:
        """Validate and accept a batch: manifest, batch record, fan-out message.

        Raises:
            PayloadTooLargeError, BatchInputError: the body (see `parse_tasks`).
            DependencyError: S3 or DynamoDB failed (no batch was stored).
        """
        tasks = parse_tasks(body, self.settings)
        batch = Batch(
            batch_id=str(uuid.uuid4()),
            owner=owner,
            task_count=len(tasks),
            counts=Counts(queued=len(tasks)),
            created_at=now_iso(),
        )
        self.manifests.put(owner, batch.batch_id, tasks)
        self.store.create(batch)
        try:
            self._send_fanout(batch)
        except DependencyError:
            # Not a 503: the batch is stored, listed and will run (the first read after the
            # grace re-sends the message), so a client told it failed would post it twice.
            logger.warning(
                "batch %s is stored but its fan-out message was refused; a read after %d s "
                "sends it again",
                batch.batch_id,
                self.settings.fanout_grace_s,
                exc_info=True,
            )
        return BatchAccepted(
            batch_id=batch.batch_id,
            task_count=batch.task_count,
            status_url=status_url(batch.batch_id),
        )

    def describe(
        self,
        owner: str,
        batch_id: str,
        limit: int | None = None,
        cursor: str | None = None,
        status: TaskStatus | None = None,
    ) -> BatchPublic:
        """Return the batch with a page of its tasks.

        Raises:
            NotFoundError: no such batch, or another owner's.
            BatchInputError: a malformed cursor.
        """
        if not is_batch_id(batch_id):
            raise NotFoundError(f"batch {batch_id} not found")
        batch = self._current(self.store.get(batch_id, owner))
        tasks, next_cursor = self.store.tasks(batch_id, self._limit(limit), cursor, status)
        return BatchPublic(
            batch_id=batch.batch_id,
            status=batch.status,
            task_count=batch.task_count,
            counts=batch.counts,
            created_at=batch.created_at,
            completed_at=batch.completed_at,
            tasks=[TaskPublic.of(task) for task in tasks],
            next_cursor=next_cursor,
        )

    def list(self, owner: str, limit: int | None = None, cursor: str | None = None) -> BatchList:
        """Return a page of the owner's batches, newest first."""
        batches, next_cursor = self.store.list(owner, self._limit(limit), cursor)
        return BatchList(
            batches=[summary(self._current(batch)) for batch in batches], next_cursor=next_cursor
        )

    def _current(self, batch: Batch) -> Batch:
        """The batch as read, its stalled fan-out re-sent and its completion recorded."""
        self._resume_fanout(batch)
        return self._recorded(batch)

    def _resume_fanout(self, batch: Batch) -> None:
        """Send the fan-out message again when the batch's fan-out is overdue.

        Overdue: unfinished `fanout_grace_s` after the batch was created and after the last
        re-send. The message may never have been sent (see `create`), or all its deliveries
        failed (it is in the fan-out queue's DLQ, which has no consumer). The conditional
        write of `fanout_requested_at` lets one of the readers racing for it send the
        message, at most once per grace period.
        """
        if batch.fanned_out:
            return
        now = int(self._clock())
        due = now - self.settings.fanout_grace_s
        if max(epoch_of(batch.created_at), batch.fanout_requested_at or 0) > due:
            return
        try:
            if not self.store.request_fanout(batch.batch_id, now, due):
                return  # another reader sent it
            self._send_fanout(batch)
        except DependencyError:
            # The read still answers; a read after the next grace period tries again.
            logger.warning("could not re-send the fan-out of %s", batch.batch_id, exc_info=True)
            return
        logger.warning(
            "batch %s: its fan-out was unfinished (%d of %d tasks queued) after the grace; "
            "its message was sent again",
            batch.batch_id,
            batch.enqueued,
            batch.task_count,
        )

    def _send_fanout(self, batch: Batch) -> None:
        """Queue the batch's fan-out message.

        Raises:
            DependencyError: SQS refused it.
        """
        message = FanOutMessage(batch_id=batch.batch_id, owner=batch.owner)
        try:
            self.sqs.send_message(
                QueueUrl=self.settings.fanout_queue_url,
                MessageBody=orjson.dumps(message.model_dump()).decode(),
                MessageAttributes=correlation.message_attributes(),
            )
        except AWS_ERRORS as error:
            raise DependencyError("could not queue the batch") from error

    def _recorded(self, batch: Batch) -> Batch:
        """The batch, its completion recorded if every task ended but no worker recorded it yet.

        A worker records it after its last task's ending (for a large batch, once its
        invocation is over), so a read can come first; or the worker's write failed.
        """
        if batch.completed_at is not None or not batch.all_ended:
            return batch
        try:
            return self.progress.task_ended(batch.batch_id)
        except DependencyError:
            return batch  # still "running"; the next read tries again

    def _limit(self, limit: int | None) -> int:
        return min(limit or self.settings.default_page, self.settings.max_page)


def summary(batch: Batch) -> BatchSummary:
    return BatchSummary(
        batch_id=batch.batch_id,
        status=batch.status,
        task_count=batch.task_count,
        counts=batch.counts,
        created_at=batch.created_at,
        completed_at=batch.completed_at,
        status_url=status_url(batch.batch_id),
    )
