"""The fan-out: resumable midway, safe against a duplicate, failed SendMessageBatch entries retried."""

from __future__ import annotations

import orjson

from horizon.batches.fanout import CHUNK, FanOut, FanOutOutcome
from horizon.batches.models import TaskStatus
from tests.unit.batches.conftest import OWNER


def fanout_body(batch_id: str) -> str:
    return orjson.dumps({"batch_id": batch_id, "owner": OWNER}).decode()


def task_indexes(queues) -> list[int]:
    indexes = []
    while messages := queues.receive("batch_tasks"):
        for message in messages:
            indexes.append(orjson.loads(message["Body"])["index"])
            queues.aws.sqs.delete_message(
                QueueUrl=queues.url("batch_tasks"), ReceiptHandle=message["ReceiptHandle"]
            )
    return sorted(indexes)


class FlakySqs:
    """SQS whose SendMessageBatch fails some entries, or raises from a chosen call on."""

    def __init__(self, sqs, fail_first_entries: int = 0, raise_on_call: int | None = None):
        self._sqs = sqs
        self.calls = 0
        self.fail_first_entries = fail_first_entries
        self.raise_on_call = raise_on_call

    def send_message_batch(self, QueueUrl, Entries):
        self.calls += 1
        if self.raise_on_call is not None and self.calls >= self.raise_on_call:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url=QueueUrl)
        failing = Entries[: self.fail_first_entries]
        self.fail_first_entries = 0
        sent = self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries[len(failing) :])
        failed = [
            {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"} for entry in failing
        ]
        return {"Successful": sent.get("Successful", []), "Failed": failed}


def test_failed_entries_are_sent_again(service, store, queues, aws):
    accepted = service.create(OWNER, [f"echo {i}" for i in range(25)])
    sqs = FlakySqs(aws.sqs, fail_first_entries=3)
    outcome = FanOut(sqs=sqs, sleep=lambda _: None).handle(fanout_body(accepted.batch_id))
    assert outcome is FanOutOutcome.DONE
    assert sqs.calls == 4  # 10 + 10 + 5 entries, and the 3 failed ones once more
    assert task_indexes(queues) == list(range(25))


def test_a_fan_out_that_died_midway_resumes_without_losing_or_doubling(service, store, queues, aws):
    count = 2 * CHUNK + 7
    accepted = service.create(OWNER, [f"echo {i}" for i in range(count)])
    # SQS goes away at the 7th SendMessageBatch: the second chunk's records exist, part of it
    # was sent.
    sqs = FlakySqs(aws.sqs, raise_on_call=7)
    try:
        FanOut(sqs=sqs, sleep=lambda _: None).handle(fanout_body(accepted.batch_id))
    except Exception as error:
        assert "could not queue" in str(error)
    batch = store.get(accepted.batch_id)
    assert (batch.created, batch.enqueued) == (2 * CHUNK, CHUNK)
    # A worker already ran one of the second chunk's tasks before the redelivery.
    task = store.get_task(accepted.batch_id, CHUNK)
    task = store.claim(task, "m", 60)
    assert store.finish(task, TaskStatus.COMPLETED, exit_code=0)
    assert FanOut(sleep=lambda _: None).handle(fanout_body(accepted.batch_id)) is FanOutOutcome.DONE
    batch = store.get(accepted.batch_id)
    assert (batch.created, batch.enqueued) == (count, count)
    indexes = task_indexes(queues)
    # Every task has at least one message; only the interrupted chunk's were sent twice.
    assert set(indexes) == set(range(count))
    assert len(indexes) - count <= CHUNK
    # The resumed fan-out did not overwrite the finished task, nor the counts.
    assert store.get_task(accepted.batch_id, CHUNK).status is TaskStatus.COMPLETED
    assert batch.counts.completed == 1 and batch.counts.queued == count - 1


def test_a_duplicate_fan_out_loses_the_cursor_race(service, store, queues):
    accepted = service.create(OWNER, ["true"] * (CHUNK + 1))
    batch = store.get(accepted.batch_id)  # as both deliveries read it
    assert FanOut().fan_out(batch) is FanOutOutcome.DONE
    assert FanOut().fan_out(batch) is FanOutOutcome.LOST_RACE
    assert FanOut().handle(fanout_body(accepted.batch_id)) is FanOutOutcome.DONE
    assert task_indexes(queues) == list(range(CHUNK + 1))


def test_malformed_or_unknown_fan_out_messages_are_dropped(aws):
    assert FanOut().handle("{") is FanOutOutcome.DROPPED
    assert FanOut().handle(fanout_body("no-such-batch")) is FanOutOutcome.DROPPED
