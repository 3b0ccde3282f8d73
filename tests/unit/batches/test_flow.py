"""A batch from POST to completed on moto: fan-out, workers, exact counts, results."""

from __future__ import annotations

import orjson
import pytest

from functions.batch_worker import handler as worker_handler
from horizon.batches.models import BatchStatus, TaskStatus
from tests.events import load_event
from tests.unit.batches.conftest import OWNER


def test_trivial_tasks_run_to_exact_completion(service, queues):
    accepted = service.create(OWNER, ["true", "echo hello", {"task": "false", "client_ref": "x"}])
    assert accepted.task_count == 3 and accepted.status == "queued"
    queued = service.describe(OWNER, accepted.batch_id)
    assert queued.status is BatchStatus.QUEUED and queued.counts.queued == 3
    queues.run_batch()
    batch = service.describe(OWNER, accepted.batch_id)
    assert batch.status is BatchStatus.COMPLETED and batch.completed_at is not None
    assert batch.counts.model_dump() == {
        "queued": 0,
        "running": 0,
        "completed": 2,
        "failed": 1,
        "timeout": 0,
    }
    by_index = {task.index: task for task in batch.tasks}
    assert by_index[1].stdout == "hello\n" and by_index[1].exit_code == 0
    assert by_index[2].status is TaskStatus.FAILED and by_index[2].exit_code == 1
    assert by_index[2].client_ref == "x" and by_index[2].error


def test_the_sample_event_shape_is_what_the_worker_reads(service, queues, store):
    accepted = service.create(OWNER, ["echo sample"])
    queues.drain(
        "batch_fanout", __import__("functions.batch_fanout.handler").batch_fanout.handler.handler
    )
    [message] = queues.receive("batch_tasks")
    event = load_event("batch_task_sqs")
    record = event["Records"][0]
    record.update(
        body=message["Body"],
        receiptHandle=message["ReceiptHandle"],
        messageId=message["MessageId"],
        eventSourceARN=queues.aws.provisioned.queue_arns["batch_tasks"],
    )
    from tests.conftest import FakeLambdaContext

    response = worker_handler.handler(event, FakeLambdaContext())
    assert response == {"batchItemFailures": []}
    assert store.get_task(accepted.batch_id, 0).stdout == "sample\n"
    assert orjson.loads(message["Body"]) == {
        "batch_id": accepted.batch_id,
        "owner": OWNER,
        "index": 0,
    }


@pytest.mark.parametrize("count", [1, 120])
def test_every_task_gets_a_record_and_one_message(service, queues, store, count):
    accepted = service.create(OWNER, [f"echo {i}" for i in range(count)])
    queues.run_batch()
    batch = service.describe(OWNER, accepted.batch_id, limit=1000)
    assert batch.counts.completed == count and len(batch.tasks) == count
    assert [task.stdout for task in batch.tasks] == [f"{i}\n" for i in range(count)]
    assert store.get(accepted.batch_id).enqueued == count


def test_a_read_records_the_completion_no_worker_recorded_yet(service, queues, store):
    # For a large batch a worker records the completion once its invocation is over, so a
    # read can see every task ended first: it is "running" until then, never "completed"
    # without a completed_at, and the read records it.
    accepted = service.create(OWNER, ["true", "true"])
    queues.run_batch()
    store.client.update_item(
        TableName=store._table,
        Key={"pk": {"S": f"BATCH#{accepted.batch_id}"}, "sk": {"S": "META"}},
        UpdateExpression="REMOVE completed_at",
    )
    unrecorded = store.get(accepted.batch_id)
    assert unrecorded.completed_at is None and unrecorded.status is BatchStatus.RUNNING
    batch = service.describe(OWNER, accepted.batch_id)
    assert batch.status is BatchStatus.COMPLETED and batch.completed_at is not None
    assert store.get(accepted.batch_id).completed_at == batch.completed_at
    [listed] = service.list(OWNER).batches
    assert listed.status is BatchStatus.COMPLETED


def test_the_posting_requests_id_rides_on_every_message_of_the_batch(service, queues):
    from horizon import correlation

    with correlation.bound("trace-batch-1"):
        service.create(OWNER, ["true", "true", "true"])
    [fanout] = queues.receive("batch_fanout")
    assert fanout["MessageAttributes"]["correlation_id"]["StringValue"] == "trace-batch-1"
    queues.deliver(
        "batch_fanout",
        __import__("functions.batch_fanout.handler").batch_fanout.handler.handler,
        [fanout],
    )
    tasks = queues.receive("batch_tasks")
    assert len(tasks) == 3
    assert {m["MessageAttributes"]["correlation_id"]["StringValue"] for m in tasks} == {
        "trace-batch-1"
    }
