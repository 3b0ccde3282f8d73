"""The batch worker's service: run the task one task-queue message names, exactly once.

Each delivery reads the task and acts on its state:
- ended: nothing runs again (a redelivered or duplicated message), the batch's completion is
  checked again in case the worker that ended it stopped before recording it;
- running, claimed by another message under a live lease: a duplicate; that message's own
  redelivery takes over if its worker vanishes;
- running, claimed by this same message under a live lease: the message came back while its
  first delivery may still be running it (the queue's visibility timeout is shorter than the
  lease, as locally): deferred to the lease's end, never run twice at once;
- running with its lease lapsed (or released by a worker whose handling failed): its worker
  vanished (crash, invocation timeout): taken over for one more attempt, or ended failed after
  `max_attempts`;
- queued: claimed (queued → running, in the batch's counts too), run, ended.
Every move is conditional on the state read (see horizon.batches.store), so the counts stay
exact whatever the deliveries. A dependency failing brings the message back with exponential
backoff (its visibility is shortened); after the queue's maxReceiveCount it goes to the DLQ,
whose consumer ends the task failed (horizon.batches.failures).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from horizon import correlation
from horizon.agent.isolation import deny_inspection
from horizon.batches.models import TaskMessage, TaskRecord, TaskStatus
from horizon.batches.progress import BatchProgress
from horizon.batches.runner import TaskRunner
from horizon.batches.settings import get_batch_settings
from horizon.batches.store import BatchStore
from horizon.clock import epoch_s
from horizon.dynamo import AWS_ERRORS
from horizon.errors import HorizonError, NotFoundError
from horizon.lazy import Collaborator, aws_client

logger = logging.getLogger(__name__)


MAX_VISIBILITY_S = 43_200  # SQS's longest visibility timeout


class Delivery(StrEnum):
    RAN = "ran"  # the task ran and its ending was stored
    ALREADY_ENDED = "already_ended"
    HELD_ELSEWHERE = "held_elsewhere"  # another message's worker runs it
    MOVED_ON = "moved_on"  # another delivery moved it first
    GAVE_UP = "gave_up"  # its workers vanished `max_attempts` times: ended failed
    DROPPED = "dropped"  # malformed, or no such batch or task


class NoTimeLeftError(HorizonError):
    """Too little of the invocation is left to start the task; its message goes back."""


class LeaseHeldError(HorizonError):
    """The task is running under this message's live lease; the message comes back after it."""

    def __init__(self, lease_left_s: int) -> None:
        super().__init__(f"the task runs under a lease of {lease_left_s} s more")
        self.after_s = min(lease_left_s + 1, MAX_VISIBILITY_S)


@dataclass(frozen=True)
class TaskDelivery:
    """What the worker needs of one SQS record."""

    body: str
    message_id: str
    receipt_handle: str
    receive_count: int
    remaining_s: float  # of the invocation


class BatchWorker:
    """Runs batch tasks from their messages.

    Args:
        store, runner, progress, sqs: collaborators, made lazily when omitted.
    """

    store = Collaborator(BatchStore)
    runner = Collaborator(TaskRunner)
    progress = Collaborator(BatchProgress)
    sqs = aws_client("sqs")

    def __init__(
        self,
        store: BatchStore | None = None,
        runner: TaskRunner | None = None,
        progress: BatchProgress | None = None,
        sqs: Any = None,
    ) -> None:
        self._store, self._runner, self._progress, self._sqs = store, runner, progress, sqs
        self.settings = get_batch_settings()
        # The steps run as this process's user: keep them out of its /proc entries (and so
        # out of its environment, which holds the function's credentials).
        deny_inspection()

    def invocation(self, deliveries: list[TaskDelivery]) -> Invocation:
        """Start handling one invocation's deliveries (see `Invocation`)."""
        return Invocation(self, deliveries)

    def handle(self, delivery: TaskDelivery) -> Delivery:
        """Act on one delivery of a task message (an invocation of its own).

        Raises:
            NoTimeLeftError: not enough time left to start; the message comes back at once.
            DependencyError: DynamoDB failed; the message comes back with backoff (so does
                any other exception).
        """
        with self.invocation([delivery]) as invocation:
            return invocation.handle(delivery)

    def _deliver(self, delivery: TaskDelivery, known: TaskRecord | None) -> Delivery:
        try:
            message = TaskMessage.model_validate_json(delivery.body)
        except ValidationError:
            logger.warning("dropping a malformed task message")
            return Delivery.DROPPED
        try:
            return self._handle(message, delivery, known)
        except NoTimeLeftError:
            self._come_back(delivery.receipt_handle, 0)
            raise
        except LeaseHeldError as held:
            self._come_back(delivery.receipt_handle, held.after_s)
            raise
        except Exception:
            # Whatever failed (a dependency, a bug), the message comes back later and later.
            self._come_back(delivery.receipt_handle, self._backoff_s(delivery.receive_count))
            raise

    def _handle(
        self, message: TaskMessage, delivery: TaskDelivery, known: TaskRecord | None
    ) -> Delivery:
        task = known or self.store.get_task(message.batch_id, message.index)
        for _ in range(2):  # a claim lost to a change since the read: read again, once
            if task is None or task.owner != message.owner:
                return self._missing(message)
            if task.status.finished:
                return Delivery.ALREADY_ENDED
            if task.status is TaskStatus.RUNNING:
                lease_left_s = (task.lease_until or 0) - epoch_s()
                if lease_left_s >= 0 and task.claimed_by != delivery.message_id:
                    return Delivery.HELD_ELSEWHERE
                if lease_left_s >= 0:
                    raise LeaseHeldError(int(lease_left_s))
                if task.attempts >= self.settings.max_attempts:
                    return self._give_up(task)
            time_limit_s = min(
                self.settings.task_timeout_s, delivery.remaining_s - self.settings.time_reserve_s
            )
            if time_limit_s < self.settings.min_task_s:
                raise NoTimeLeftError(f"{delivery.remaining_s:.0f} s left: too little to start")
            lease_s = int(time_limit_s + self.settings.time_reserve_s) + 1
            claimed = self.store.claim(task, delivery.message_id, lease_s)
            if claimed is not None:
                return self._run(claimed, time_limit_s)
            task = self.store.get_task(message.batch_id, message.index)
        return Delivery.MOVED_ON

    def _run(self, claimed: TaskRecord, time_limit_s: float) -> Delivery:
        try:
            outcome = self.runner.run(claimed.task, time_limit_s)
            stored = self.store.finish(
                claimed,
                outcome.status,
                exit_code=outcome.exit_code,
                result=outcome.result,
                stdout=outcome.stdout,
                stderr=outcome.stderr,
                error=outcome.error,
            )
        except Exception:
            self._release(claimed)
            raise
        if not stored:
            logger.warning("task %s#%d ended elsewhere meanwhile", claimed.batch_id, claimed.index)
            return Delivery.MOVED_ON
        return Delivery.RAN

    def _release(self, claimed: TaskRecord) -> None:
        """Let the message's redelivery take the task over at once (not after the lease)."""
        try:
            self.store.release(claimed)
        except HorizonError as error:
            # The redelivery waits for the lease to lapse instead.
            logger.warning(
                "could not release task %s#%d: %s", claimed.batch_id, claimed.index, error
            )

    def _give_up(self, task: TaskRecord) -> Delivery:
        error = (
            f"the worker stopped while running the task {task.attempts} times "
            "(crash or timeout of the invocation)"
        )
        if self.store.finish(task, TaskStatus.FAILED, error=error):
            return Delivery.GAVE_UP
        return Delivery.MOVED_ON

    def _missing(self, message: TaskMessage) -> Delivery:
        try:
            self.store.get(message.batch_id, message.owner)
        except NotFoundError:
            logger.warning("dropping a message of unknown batch %s", message.batch_id)
            return Delivery.DROPPED
        logger.warning("dropping a message of unknown task %s#%d", message.batch_id, message.index)
        return Delivery.DROPPED

    def _backoff_s(self, receive_count: int) -> int:
        exponent = max(0, receive_count - 1)
        return int(min(self.settings.retry_cap_s, self.settings.retry_base_s * 2**exponent))

    def _come_back(self, receipt_handle: str, after_s: int) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.settings.tasks_queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=after_s,
            )
        except AWS_ERRORS as error:
            # It still comes back, after the queue's visibility timeout.
            logger.warning("could not set when the message comes back: %s", error)


# Deliveries after which the batch's progress is looked at: a task ended, or one had ended
# already (its worker may have stopped before recording the batch's completion).
_ENDED = (Delivery.RAN, Delivery.GAVE_UP, Delivery.ALREADY_ENDED)
# A batch this small is looked at after each ended task: the tasks that all concurrent
# invocations hold (10 workers × 10 messages) could be more than a tenth of it, and an update
# is due at every tenth. Larger batches are looked at once per invocation (≤ 1 % each).
SMALL_BATCH = 999


class Invocation:
    """One invocation's deliveries: their tasks read at once, progress looked at once per batch.

    The task records are read in one BatchGetItem up front (a record that changed since is
    caught by the claim's condition and read again); after the last delivery, each batch whose
    tasks ended gets its completion recorded and its progress published once, not per task
    (after each task for batches of at most SMALL_BATCH tasks).

    Use as a context manager; `handle` each delivery inside it.
    """

    def __init__(self, worker: BatchWorker, deliveries: list[TaskDelivery]) -> None:
        self._worker = worker
        self._known: dict[tuple[str, int], TaskRecord] = {}
        # Batch ids, in order, with the correlation id their tasks' messages carry.
        self._ended: dict[str, str | None] = {}
        keys = []
        for delivery in deliveries:
            try:
                message = TaskMessage.model_validate_json(delivery.body)
            except ValidationError:
                continue
            keys.append((message.batch_id, message.index))
        try:
            self._known = worker.store.get_tasks(list(dict.fromkeys(keys))[:100])
        except HorizonError as error:  # each delivery reads its own task then
            logger.warning("could not read the invocation's tasks at once: %s", error)

    def __enter__(self) -> Invocation:
        return self

    def handle(self, delivery: TaskDelivery) -> Delivery:
        """Act on one delivery (see `BatchWorker.handle`)."""
        known = None
        try:
            message = TaskMessage.model_validate_json(delivery.body)
            known = self._known.pop((message.batch_id, message.index), None)
        except ValidationError:
            pass
        outcome = self._worker._deliver(delivery, known)
        if outcome in _ENDED:
            batch_id = TaskMessage.model_validate_json(delivery.body).batch_id
            if known is not None and (known.task_count or 0) <= SMALL_BATCH:
                self._progress(batch_id)
            else:
                self._ended[batch_id] = correlation.current()
        return outcome

    def __exit__(self, *exc_info: object) -> None:
        # Outside the deliveries' own binding: the update still names the request that made
        # the batch, as the per-task updates of a small batch do.
        for batch_id, correlation_id in self._ended.items():
            with correlation.bound(correlation_id):
                self._progress(batch_id)

    def _progress(self, batch_id: str) -> None:
        try:
            self._worker.progress.task_ended(batch_id)
        except HorizonError as error:
            # The counts are stored; only completed_at or an update may be missing.
            logger.warning("could not record the progress of batch %s: %s", batch_id, error)
