"""Store-then-push delivery on moto: catch-up, no gap, no repeat, exactly-once replay at close."""

from __future__ import annotations

from typing import Any

import orjson

from horizon import correlation
from horizon.agent import models
from horizon.agent.delivery import Broadcaster, Sender, frame_pieces
from horizon.agent.models import TaskStatus
from horizon.agent.service import TaskService
from horizon.agent.store import TaskStore
from horizon.agent.subscriptions import TaskSubscriptions
from horizon.realtime.connections import ConnectionStore
from horizon.realtime.notifier import MAX_FRAME_BYTES
from tests.conftest import Aws
from tests.unit.agent.conftest import RecordingNotifier

OWNER = "tenant-a"


class Setup:
    def __init__(self, notifier: RecordingNotifier) -> None:
        self.store = TaskStore()
        self.subscriptions = TaskSubscriptions()
        self.connections = ConnectionStore()
        self.notifier = notifier
        self.store.create(OWNER, "t1", "echo hi")
        sender = Sender(OWNER, "t1", self.subscriptions, notifier, self.connections)  # type: ignore[arg-type]
        self.broadcaster = Broadcaster(self.store, sender, refresh_s=0.0)

    def connect(self, connection_id: str, after_seq: int = 0) -> None:
        connection = self.connections.put_connection(connection_id, OWNER)
        self.subscriptions.subscribe(connection, "t1", after_seq)

    def seqs(self, connection_id: str) -> list[int]:
        return [m["seq"] for m in self.notifier.sent.get(connection_id, [])]


def test_a_late_subscriber_is_caught_up_then_continues_live(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    setup = Setup(notifier)
    setup.connect("early")
    for i in range(5):
        setup.broadcaster.emit_output("stdout", f"line {i}\n".encode())
    setup.connect("late", after_seq=2)
    for i in range(5, 8):
        setup.broadcaster.emit_output("stdout", f"line {i}\n".encode())
    setup.broadcaster.emit_exit(TaskStatus.COMPLETED, 0, None)
    setup.broadcaster.close()
    assert setup.seqs("early") == list(range(1, 10))
    assert setup.seqs("late") == list(range(3, 10))
    stored = [c.seq for c in setup.store.messages(OWNER, "t1", 0)]
    assert stored == list(range(1, 10))


def test_a_gone_connection_is_forgotten(aws: Aws) -> None:
    notifier = RecordingNotifier(gone={"gone"})
    setup = Setup(notifier)
    setup.connect("gone")
    # Connections younger than the grace period are kept; make this one old.
    setup.connections.client.update_item(
        TableName=setup.connections._table,
        Key={"pk": {"S": "CONN#gone"}, "sk": {"S": "META"}},
        UpdateExpression="SET connected_epoch = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )
    setup.broadcaster.emit_output("stdout", b"x")
    assert setup.subscriptions.list(OWNER, "t1") == []
    assert setup.connections.get_connection("gone") is None


def test_subscribing_around_the_close_replays_exactly_once(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    setup = Setup(notifier)
    setup.broadcaster.emit_output("stdout", b"a")
    setup.broadcaster.emit_exit(TaskStatus.COMPLETED, 0, None)
    # Subscribed after the final delivery but before the close: both sides see it.
    setup.connect("racer")
    service = TaskService(
        reply=lambda c, m: notifier.send(c, m),
        connections=setup.connections,
        notifier=notifier,  # type: ignore[arg-type]
        store=setup.store,
        subscriptions=setup.subscriptions,
        launcher=None,
    )
    setup.broadcaster.close()
    subscription = setup.subscriptions.list(OWNER, "t1")[0]
    # The handler's attempt at the same subscription loses the claim.
    assert not setup.subscriptions.claim(OWNER, "t1", subscription, "handler")
    assert setup.seqs("racer") == [1, 2]
    # A subscribe after the close is replayed by the handler.
    setup.connections.put_connection("after", OWNER)
    service.subscribe("after", {"task_id": "t1", "after_seq": 1})
    assert setup.seqs("after") == [2]
    assert notifier.sent["after"][0]["type"] == "exit"


def test_frames_stay_under_the_limit_even_for_escaped_text() -> None:
    data = b"\x01" * 16 * 1024  # valid UTF-8 that JSON escapes sixfold
    pieces = frame_pieces("t1", "stdout", data)
    assert len(pieces) > 1
    for text, is_base64 in pieces:
        message: dict[str, Any] = models.output("t1", 10**9, "stdout", text, is_base64)
        assert len(orjson.dumps(message)) <= MAX_FRAME_BYTES
    assert "".join(text for text, _ in pieces).encode() == data


def _service(setup: Setup) -> TaskService:
    return TaskService(
        reply=lambda c, m: setup.notifier.send(c, m),
        connections=setup.connections,
        notifier=setup.notifier,  # type: ignore[arg-type]
        store=setup.store,
        subscriptions=setup.subscriptions,
        launcher=None,
    )


def test_messages_keep_the_runs_correlation_id_when_replayed_later(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    setup = Setup(notifier)
    setup.connect("live")
    with correlation.bound("run-1"):
        setup.broadcaster.emit_output("stdout", b"hi\n")
        setup.broadcaster.emit_exit(TaskStatus.COMPLETED, 0, None)
        setup.broadcaster.close()
    setup.connections.put_connection("later", OWNER)
    with correlation.bound("subscribe-2"):
        _service(setup).subscribe("later", {"task_id": "t1"})
    stored = setup.store.messages(OWNER, "t1", 0)
    assert [chunk.message["correlation_id"] for chunk in stored] == ["run-1", "run-1"]
    for connection_id in ("live", "later"):
        assert [m["correlation_id"] for m in notifier.sent[connection_id]] == ["run-1", "run-1"]


def test_a_run_without_a_correlation_id_pushes_none(aws: Aws, notifier: RecordingNotifier) -> None:
    setup = Setup(notifier)
    setup.connect("live")
    setup.broadcaster.emit_output("stdout", b"hi\n")
    setup.broadcaster.emit_exit(TaskStatus.COMPLETED, 0, None)
    assert [m["type"] for m in notifier.sent["live"]] == ["output", "exit"]
    assert all("correlation_id" not in m for m in notifier.sent["live"])


def _largest_single_piece(task_id: str) -> bytes:
    """The most output `frame_pieces` keeps in one message (searched, not computed)."""
    low, high = 1, MAX_FRAME_BYTES
    while low < high:
        middle = (low + high + 1) // 2
        if len(frame_pieces(task_id, "stdout", b"a" * middle)) == 1:
            low = middle
        else:
            high = middle - 1
    return b"a" * low


def test_a_maximal_chunk_with_the_longest_correlation_id_fits_one_frame(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    data = _largest_single_piece("t1")
    longest = "r" * correlation.MAX_CHARS
    setup = Setup(notifier)
    setup.connect("live")
    setup.broadcaster.resume(10**15, {})  # a long seq too
    # Live, stamped when stored; then stored without an id and stamped when replayed.
    with correlation.bound(longest):
        setup.broadcaster.emit_output("stdout", data)
    setup.broadcaster.emit_output("stdout", data)
    setup.broadcaster.emit_exit(TaskStatus.COMPLETED, 0, None)
    setup.broadcaster.close()
    setup.connections.put_connection("later", OWNER)
    with correlation.bound(longest):
        _service(setup).subscribe("later", {"task_id": "t1", "after_seq": 10**15 + 1})
    live, late = notifier.sent["live"][0], notifier.sent["later"][0]
    for pushed in (live, late):
        assert pushed["data"].encode() == data and pushed["correlation_id"] == longest
        assert len(orjson.dumps(pushed)) <= MAX_FRAME_BYTES
    assert len(orjson.dumps(live)) > MAX_FRAME_BYTES - 512  # maximal indeed
