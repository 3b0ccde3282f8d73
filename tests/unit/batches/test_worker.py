"""The worker on real SQS deliveries: redelivered, duplicated and crashed messages, time limits,
and the DLQ consumer; the batch's counts stay exact throughout."""

from __future__ import annotations

import orjson
import pytest

from functions.batch_failures import handler as failures_handler
from functions.batch_fanout import handler as fanout_handler
from functions.batch_worker import handler as worker_handler
from horizon.batches.failures import BatchTaskFailures, Settled
from horizon.batches.models import TaskStatus
from horizon.batches.worker import BatchWorker, Delivery, NoTimeLeftError, TaskDelivery
from tests.unit.batches.conftest import OWNER, TASKS_DLQ

COUNTS_ZERO = {"queued": 0, "running": 0, "completed": 0, "failed": 0, "timeout": 0}


def posted(service, queues, tasks):
    accepted = service.create(OWNER, tasks)
    queues.drain("batch_fanout", fanout_handler.handler)
    return accepted.batch_id


def delivery(message, receive_count=1, remaining_s=300.0):
    return TaskDelivery(
        body=message["Body"],
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        receive_count=receive_count,
        remaining_s=remaining_s,
    )


def counts(store, batch_id):
    return store.get(batch_id).counts.model_dump()


def test_a_redelivered_message_never_runs_a_finished_task_again(service, queues, store, tmp_path):
    marker = tmp_path / "runs"
    batch_id = posted(service, queues, [f"echo run >> {marker}"])
    [message] = queues.receive("batch_tasks")
    worker = BatchWorker()
    assert worker.handle(delivery(message)) is Delivery.RAN
    # The same message again (its delete was lost): acknowledged without running.
    assert worker.handle(delivery(message, receive_count=2)) is Delivery.ALREADY_ENDED
    assert marker.read_text() == "run\n"
    assert counts(store, batch_id) == {**COUNTS_ZERO, "completed": 1}


def test_a_duplicated_message_is_counted_once(service, queues, store, aws, tmp_path):
    marker = tmp_path / "runs"
    batch_id = posted(service, queues, [f"echo run >> {marker}"])
    # A second message for the same task (a resumed fan-out re-sends its last chunk).
    aws.sqs.send_message(
        QueueUrl=queues.url("batch_tasks"),
        MessageBody=orjson.dumps({"batch_id": batch_id, "owner": OWNER, "index": 0}).decode(),
    )
    assert queues.drain("batch_tasks", worker_handler.handler) == 2
    assert marker.read_text() == "run\n"
    assert counts(store, batch_id) == {**COUNTS_ZERO, "completed": 1}
    assert store.get(batch_id).completed_at is not None


def test_a_duplicate_of_a_running_task_leaves_it_to_its_holder(service, queues, store):
    batch_id = posted(service, queues, ["true"])
    [message] = queues.receive("batch_tasks")
    task = store.get_task(batch_id, 0)
    assert store.claim(task, "another-message", lease_s=60) is not None
    assert BatchWorker().handle(delivery(message)) is Delivery.HELD_ELSEWHERE
    assert counts(store, batch_id) == {**COUNTS_ZERO, "running": 1}


def test_a_redelivery_under_a_live_lease_waits_for_it_and_never_runs_twice(
    service, queues, store, aws, tmp_path
):
    marker = tmp_path / "runs"
    batch_id = posted(service, queues, [f"echo run >> {marker}"])
    [message] = queues.receive("batch_tasks")
    # The first delivery claimed the task and is still running it when the message comes back
    # (locally the visibility timeout is shorter than the lease).
    task = store.get_task(batch_id, 0)
    assert store.claim(task, message["MessageId"], lease_s=600) is not None
    response = queues.deliver("batch_tasks", worker_handler.handler, [message])
    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert not marker.exists()
    held = store.get_task(batch_id, 0)
    assert held.status is TaskStatus.RUNNING and held.attempts == 1
    assert counts(store, batch_id) == {**COUNTS_ZERO, "running": 1}
    # It comes back once the lease is over, not before.
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=queues.url("batch_tasks"), AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert queues.receive("batch_tasks") == []


def test_a_worker_killed_mid_task_is_taken_over_by_the_redelivery(service, queues, store):
    batch_id = posted(service, queues, ["echo second try"])
    [message] = queues.receive("batch_tasks")
    # The first delivery claimed the task, then its worker died (no ending, no delete) and its
    # lease lapsed.
    task = store.get_task(batch_id, 0)
    assert store.claim(task, message["MessageId"], lease_s=-1) is not None
    assert counts(store, batch_id) == {**COUNTS_ZERO, "running": 1}
    response = queues.deliver("batch_tasks", worker_handler.handler, [message])
    assert response == {"batchItemFailures": []}
    ended = store.get_task(batch_id, 0)
    assert ended.status is TaskStatus.COMPLETED and ended.attempts == 2
    assert ended.stdout == "second try\n"
    assert counts(store, batch_id) == {**COUNTS_ZERO, "completed": 1}


def test_a_handler_crash_is_retried_and_counted_once(service, queues, store, monkeypatch):
    batch_id = posted(service, queues, ["echo survived"])
    worker = worker_handler.get_service()
    real_finish = worker.store.finish
    crashes = []

    def crash_once(*args, **kwargs):
        if not crashes:
            crashes.append(1)
            raise RuntimeError("the worker died before storing the outcome")
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(worker.store, "finish", crash_once)
    [message] = queues.receive("batch_tasks")
    response = queues.deliver("batch_tasks", worker_handler.handler, [message])
    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert counts(store, batch_id) == {**COUNTS_ZERO, "running": 1}
    # The message comes back (the test's backoff is 0 s) and the redelivery takes over.
    assert queues.drain("batch_tasks", worker_handler.handler) == 1
    task = store.get_task(batch_id, 0)
    assert task.status is TaskStatus.COMPLETED and task.attempts == 2
    assert counts(store, batch_id) == {**COUNTS_ZERO, "completed": 1}


def test_a_task_whose_workers_keep_vanishing_ends_failed(service, queues, store, monkeypatch):
    monkeypatch.setenv("BATCH_MAX_ATTEMPTS", "2")
    from horizon.batches.settings import reset_batch_settings

    reset_batch_settings()
    batch_id = posted(service, queues, ["true"])
    [message] = queues.receive("batch_tasks")
    task = store.get_task(batch_id, 0)
    task = store.claim(task, message["MessageId"], lease_s=-1)
    task = store.claim(task, message["MessageId"], lease_s=-1)
    assert task.attempts == 2
    assert BatchWorker().handle(delivery(message, receive_count=3)) is Delivery.GAVE_UP
    ended = store.get_task(batch_id, 0)
    assert ended.status is TaskStatus.FAILED and "2 times" in ended.error
    assert counts(store, batch_id) == {**COUNTS_ZERO, "failed": 1}


def test_a_task_over_its_time_limit_ends_timeout(service, queues, store, monkeypatch):
    monkeypatch.setenv("BATCH_TASK_TIMEOUT_S", "1")
    monkeypatch.setenv("BATCH_MIN_TASK_S", "0.5")
    from horizon.batches.settings import reset_batch_settings

    reset_batch_settings()
    batch_id = posted(service, queues, ["sleep 30"])
    queues.drain("batch_tasks", worker_handler.handler)
    task = store.get_task(batch_id, 0)
    assert task.status is TaskStatus.TIMEOUT and "time limit of 1 s" in task.error
    assert counts(store, batch_id) == {**COUNTS_ZERO, "timeout": 1}


def test_without_time_left_a_task_is_not_started(service, queues, store):
    batch_id = posted(service, queues, ["true"])
    [message] = queues.receive("batch_tasks")
    with pytest.raises(NoTimeLeftError):
        BatchWorker().handle(delivery(message, remaining_s=12))
    assert store.get_task(batch_id, 0).status is TaskStatus.QUEUED
    # It comes back at once for another invocation.
    [again] = queues.receive("batch_tasks")
    assert again["MessageId"] == message["MessageId"]


def test_malformed_and_unknown_messages_are_dropped(service, queues):
    worker = BatchWorker()
    for body in (
        "not json",
        '{"batch_id": "x y", "owner": "o", "index": 0}',
        '{"batch_id": "missing", "owner": "o", "index": 0}',
    ):
        message = {"Body": body, "MessageId": "m", "ReceiptHandle": "r"}
        assert worker.handle(delivery(message)) is Delivery.DROPPED


def test_a_poisoned_message_reaches_the_dlq_and_its_task_ends_failed(
    service, queues, store, monkeypatch
):
    batch_id = posted(service, queues, ["echo never", "echo fine"])
    worker = worker_handler.get_service()
    real_get = worker.store.get_task

    def poisoned(batch, index):
        if index == 0:
            raise RuntimeError("this message breaks the worker every time")
        return real_get(batch, index)

    monkeypatch.setattr(worker.store, "get_task", poisoned)
    monkeypatch.setattr(worker.store, "get_tasks", lambda keys: {})  # each reads its own
    # Every delivery fails until the queue's redrive moves it to the DLQ (maxReceiveCount 4).
    queues.drain("batch_tasks", worker_handler.handler)
    [dead] = queues.receive(TASKS_DLQ)
    assert orjson.loads(dead["Body"])["index"] == 0
    assert counts(store, batch_id) == {**COUNTS_ZERO, "queued": 1, "completed": 1}
    response = queues.deliver(TASKS_DLQ, failures_handler.handler, [dead])
    assert response == {"batchItemFailures": []}
    task = store.get_task(batch_id, 0)
    assert task.status is TaskStatus.FAILED and "gave up after 4 deliveries" in task.error
    assert counts(store, batch_id) == {**COUNTS_ZERO, "failed": 1, "completed": 1}
    batch = store.get(batch_id)
    assert batch.completed_at is not None
    # A second copy of the DLQ message changes nothing.
    assert BatchTaskFailures().handle(dead["Body"]) is Settled.ALREADY_ENDED
    assert counts(store, batch_id) == {**COUNTS_ZERO, "failed": 1, "completed": 1}


def test_each_ending_is_counted_once_by_status(service, queues, store, emf):
    posted(service, queues, ["true", "false"])
    messages = queues.receive("batch_tasks")
    worker = BatchWorker()
    for message in messages:
        worker.handle(delivery(message))
        worker.handle(delivery(message, receive_count=2))  # a redelivery ends nothing

    emf.read()

    assert emf.values("BatchTasksEnded", status="completed") == [1.0]
    assert emf.values("BatchTasksEnded", status="failed") == [1.0]
