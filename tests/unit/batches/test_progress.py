"""Batch progress over the WebSocket: subscribe by batch_id, the counts at once, then an update
at every tenth of the tasks ended and at the end."""

from __future__ import annotations

from collections import defaultdict

import orjson
import pytest

from horizon import correlation
from horizon.batches import worker
from horizon.batches.progress import BatchProgress
from horizon.batches.worker import BatchWorker
from horizon.realtime.connections import ConnectionStore
from horizon.realtime.notifier import Delivery, encode
from horizon.realtime.publisher import JobProgressPublisher
from horizon.realtime.service import WebSocketService
from tests.unit.batches.conftest import OWNER


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: dict[str, list[dict]] = defaultdict(list)

    def send(self, connection_id: str, message: dict) -> Delivery:
        self.sent[connection_id].append(orjson.loads(encode(message)))  # as pushed
        return Delivery.SENT


def _subscribe_and_run(batch_id: str, queues, store) -> list[dict]:
    """Subscribe conn-1 to the batch, run the batch; return what conn-1 was sent."""
    notifier = RecordingNotifier()
    connections = ConnectionStore()
    connections.put_connection("conn-1", OWNER)
    sockets = WebSocketService(connections=connections, notifier=notifier)
    sockets.message("conn-1", "subscribe", f'{{"action": "subscribe", "batch_id": "{batch_id}"}}')
    assert len(notifier.sent["conn-1"]) == 1  # the snapshot

    from functions.batch_fanout import handler as fanout_handler
    from functions.batch_worker import handler as worker_handler

    publisher = JobProgressPublisher(connections=connections, notifier=notifier)
    worker_handler.get_service()._progress = BatchProgress(store=store, publisher=publisher)
    queues.drain("batch_fanout", fanout_handler.handler)
    queues.drain("batch_tasks", worker_handler.handler)
    return notifier.sent["conn-1"]


def test_a_subscriber_gets_the_counts_then_every_tenth_and_the_end(aws, service, queues, store):
    batch_id = service.create(OWNER, ["true"] * 20).batch_id
    snapshot, *updates = _subscribe_and_run(batch_id, queues, store)
    assert snapshot["type"] == "batch" and snapshot["status"] == "queued"
    assert snapshot["counts"]["queued"] == 20 and snapshot["task_count"] == 20
    ended = [sum(u["counts"][s] for s in ("completed", "failed", "timeout")) for u in updates]
    # Every tenth (2 tasks of 20) was published, in order, and the last says completed.
    assert ended == sorted(ended) and ended[-1] == 20
    assert {10 * n // 20 for n in ended} == set(range(1, 11))
    assert updates[-1]["status"] == "completed" and "completed_at" in updates[-1]
    assert [u["seq"] for u in updates] == sorted(u["seq"] for u in updates)


# A small batch is looked at after each task, a large one once per invocation (worker.py).
@pytest.mark.parametrize("small_batch", [worker.SMALL_BATCH, 0])
def test_updates_carry_the_id_of_the_request_that_posted_the_batch(
    aws, service, queues, store, monkeypatch, small_batch
):
    monkeypatch.setattr(worker, "SMALL_BATCH", small_batch)
    with correlation.bound("post-1"):
        batch_id = service.create(OWNER, ["true"] * 4).batch_id
    with correlation.bound("subscribe-2"):
        snapshot, *updates = _subscribe_and_run(batch_id, queues, store)
    assert snapshot["correlation_id"] == "subscribe-2"
    assert updates[-1]["status"] == "completed"
    assert {update["correlation_id"] for update in updates} == {"post-1"}


def test_subscribing_to_another_owners_or_a_malformed_batch_is_an_error(aws, service):
    batch_id = service.create("someone-else", ["true"]).batch_id
    notifier = RecordingNotifier()
    connections = ConnectionStore()
    connections.put_connection("conn-2", OWNER)
    sockets = WebSocketService(connections=connections, notifier=notifier)
    sockets.message("conn-2", "subscribe", f'{{"action": "subscribe", "batch_id": "{batch_id}"}}')
    sockets.message("conn-2", "subscribe", '{"action": "subscribe", "batch_id": "a b"}')
    codes = [message["code"] for message in notifier.sent["conn-2"]]
    assert codes == ["not_found", "bad_request"]
    assert connections.topic_subscribers(f"SUB#batch#{OWNER}#{batch_id}") == []


def test_the_worker_makes_its_collaborators_lazily(aws):
    assert BatchWorker().store is not None
