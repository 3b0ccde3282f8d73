"""A batch whose fan-out message was never sent (or never finished) is repaired by a read.

The API stores the batch before it sends the fan-out message; a crash or an SQS refusal in
between leaves a stored batch nobody fans out. A read past `BATCH_FANOUT_GRACE_S` sends the
message again, once per grace period however many readers race for it.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from horizon.api import create_app
from horizon.api.routers.batches import batch_service
from horizon.batches.fanout import CHUNK, FanOut
from horizon.batches.models import BatchStatus
from horizon.batches.service import BatchService
from horizon.batches.settings import get_batch_settings
from horizon.batches.store import BatchStore
from horizon.errors import DependencyError
from tests.unit.batches.conftest import OWNER


class Clock:
    """The Unix time, moved forward by hand."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


class RefusingSqs:
    """SQS that refuses the first `refusals` SendMessage calls, as an outage would."""

    def __init__(self, sqs, refusals: int = 1) -> None:
        self._sqs, self.refusals = sqs, refusals

    def send_message(self, **request):
        if self.refusals:
            self.refusals -= 1
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "SendMessage")
        return self._sqs.send_message(**request)

    def send_message_batch(self, **request):
        raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "SendMessageBatch")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reader(aws, clock) -> BatchService:
    return BatchService(clock=clock)


def fanout_messages(queues) -> int:
    attributes = queues.aws.sqs.get_queue_attributes(
        QueueUrl=queues.url("batch_fanout"), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def lose_fanout_messages(queues) -> None:
    """The state an API that died between its write and its send leaves: no message."""
    while messages := queues.receive("batch_fanout"):
        queues.delete("batch_fanout", messages, None)
    assert fanout_messages(queues) == 0


def test_a_batch_whose_message_was_never_sent_is_fanned_out_by_a_read_after_the_grace(
    service, reader, clock, queues, store
):
    batch_id = service.create(OWNER, ["echo one", "echo two"]).batch_id
    lose_fanout_messages(queues)
    clock.offset_s = reader.settings.fanout_grace_s + 1
    assert reader.describe(OWNER, batch_id).status is BatchStatus.QUEUED
    assert fanout_messages(queues) == 1
    queues.run_batch()
    batch = reader.describe(OWNER, batch_id)
    assert batch.status is BatchStatus.COMPLETED and batch.counts.completed == 2
    assert [task.stdout for task in batch.tasks] == ["one\n", "two\n"]
    # Fanned out: no read sends it again, however late.
    clock.offset_s *= 10
    reader.describe(OWNER, batch_id)
    assert fanout_messages(queues) == 0


def test_no_read_sends_it_before_the_grace_nor_twice_within_one(
    service, reader, clock, queues, store
):
    batch_id = service.create(OWNER, ["true"]).batch_id
    lose_fanout_messages(queues)
    grace = reader.settings.fanout_grace_s
    clock.offset_s = grace - 5
    reader.describe(OWNER, batch_id)
    reader.list(OWNER)
    assert fanout_messages(queues) == 0
    assert store.get(batch_id).fanout_requested_at is None  # no write either
    clock.offset_s = grace + 1
    reader.list(OWNER)  # the listing is a read of the batch too
    assert fanout_messages(queues) == 1
    lose_fanout_messages(queues)  # lost again
    clock.offset_s = 2 * grace - 5
    reader.describe(OWNER, batch_id)
    assert fanout_messages(queues) == 0
    clock.offset_s = 2 * grace + 5  # a grace period after the re-send
    reader.describe(OWNER, batch_id)
    assert fanout_messages(queues) == 1


class BarrierStore(BatchStore):
    """A store whose reads of a batch wait for each other: both readers see it stalled."""

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__()
        self._barrier = barrier

    def get(self, batch_id, owner=None):
        batch = super().get(batch_id, owner)
        self._barrier.wait(timeout=10)
        return batch


def test_two_concurrent_reads_send_one_message(service, clock, queues, aws):
    batch_id = service.create(OWNER, ["true"]).batch_id
    lose_fanout_messages(queues)
    clock.offset_s = service.settings.fanout_grace_s + 1
    barrier = threading.Barrier(2)
    readers = [BatchService(store=BarrierStore(barrier), clock=clock) for _ in range(2)]
    statuses: list[BatchStatus] = []
    threads = [
        threading.Thread(target=lambda r=r: statuses.append(r.describe(OWNER, batch_id).status))
        for r in readers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [BatchStatus.QUEUED, BatchStatus.QUEUED]
    assert fanout_messages(queues) == 1


def test_a_fan_out_whose_deliveries_all_failed_midway_is_resumed_by_a_read(
    service, reader, clock, queues, store
):
    count = CHUNK + 20
    batch_id = service.create(OWNER, [f"echo {i}" for i in range(count)]).batch_id
    [message] = queues.receive("batch_fanout")
    # The first chunk's records are created, then SQS fails; the message ends in the DLQ.
    with pytest.raises(DependencyError):
        FanOut(sqs=RefusingSqs(queues.aws.sqs), sleep=lambda _: None).handle(message["Body"])
    queues.delete("batch_fanout", [message], None)
    stalled = store.get(batch_id)
    assert (stalled.created, stalled.enqueued) == (CHUNK, 0)
    clock.offset_s = reader.settings.fanout_grace_s + 1
    reader.describe(OWNER, batch_id)
    queues.run_batch()
    batch = reader.describe(OWNER, batch_id, limit=1000)
    assert batch.status is BatchStatus.COMPLETED and batch.counts.completed == count
    assert [task.stdout for task in batch.tasks] == [f"{i}\n" for i in range(count)]
    assert all(task.attempts == 1 for task in batch.tasks)


@pytest.fixture
def client(aws, clock, event_loop_for_mangum):
    app = create_app()
    sqs = RefusingSqs(aws.sqs)
    app.dependency_overrides[batch_service] = lambda: BatchService(sqs=sqs, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def event_loop_for_mangum():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def test_a_refused_first_send_still_accepts_the_batch_and_a_read_starts_it(client, clock, queues):
    # Stored is accepted: a 503 would make the client post again while this batch would
    # still run (its record is what the repair reads), so the answer is the batch, once.
    headers = {"Idempotency-Key": "refused-send"}
    first = client.post("/batch", json=["echo late"], headers=headers)
    assert first.status_code == 202, first.text
    again = client.post("/batch", json=["echo late"], headers=headers)
    assert again.status_code == 202 and again.json() == first.json()
    assert fanout_messages(queues) == 0
    status_url = first.json()["status_url"]
    assert [b["batch_id"] for b in client.get("/batch").json()["batches"]] == [
        first.json()["batch_id"]
    ]
    assert client.get(status_url).json()["status"] == "queued"
    assert fanout_messages(queues) == 0  # within the grace
    clock.offset_s = get_batch_settings().fanout_grace_s + 1
    assert client.get(status_url).json()["status"] == "queued"
    assert fanout_messages(queues) == 1
    queues.run_batch()
    batch = client.get(status_url).json()
    assert batch["status"] == "completed" and batch["tasks"][0]["stdout"] == "late\n"
