"""Crash finalization on moto: a task whose process died ends failed, with exactly one exit."""

from __future__ import annotations

import threading
import time

import pytest

from horizon.agent.delivery import Broadcaster, Sender
from horizon.agent.models import TaskStatus
from horizon.agent.reaper import finalize_lost, stop_reason
from horizon.agent.store import TaskStore
from horizon.agent.subscriptions import TaskSubscriptions
from horizon.agent.task import TaskProcess
from horizon.realtime import WebSocketService
from horizon.realtime.connections import ConnectionStore
from tests.conftest import Aws
from tests.unit.agent.conftest import RecordingNotifier

OWNER = "alice"
REASON = stop_reason(-9)


def _running_task_that_died(notifier: RecordingNotifier, lease_s: int = 30) -> TaskStore:
    """A started task that stored and pushed two lines to c1, heartbeat, then nothing."""
    store = TaskStore()
    store.create(OWNER, "t1", "`echo a; echo b; sleep 60`", "c1")
    connection = ConnectionStore().put_connection("c1", OWNER)
    TaskSubscriptions().subscribe(connection, "t1", 0)
    store.start(OWNER, "t1", 4242, lease_s)
    sender = Sender(OWNER, "t1", TaskSubscriptions(), notifier, ConnectionStore())  # type: ignore[arg-type]
    broadcaster = Broadcaster(store, sender)
    broadcaster.emit_output("stdout", b"a\n")
    broadcaster.emit_output("stdout", b"b\n")
    store.heartbeat(OWNER, "t1", lease_s, broadcaster.cursors())
    return store


def _finalize(notifier: RecordingNotifier, **kwargs: object) -> bool:
    return finalize_lost(OWNER, "t1", REASON, notifier=notifier, **kwargs)  # type: ignore[arg-type]


def test_stop_reason_names_the_signal_or_the_code() -> None:
    assert stop_reason(-9) == "the task process stopped unexpectedly (signal 9)"
    assert stop_reason(1) == "the task process stopped unexpectedly (exit code 1)"


def test_a_dead_task_gets_one_failed_exit_after_what_was_pushed(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    store = _running_task_that_died(notifier)
    assert _finalize(notifier) is True
    assert _finalize(notifier) is False  # a second reaper finds it claimed
    received = notifier.sent["c1"]
    assert [m["seq"] for m in received] == [1, 2, 3]  # no gap, no repeat
    assert received[-1]["type"] == "exit"
    assert (received[-1]["status"], received[-1]["error"]) == ("failed", REASON)
    record = store.get(OWNER, "t1")
    assert record.status is TaskStatus.FAILED and record.closed
    assert [m.seq for m in store.messages(OWNER, "t1", 0)] == [1, 2, 3]


def test_a_late_subscriber_of_a_finalized_task_gets_the_replay(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    _running_task_that_died(notifier)
    _finalize(notifier)
    connections = ConnectionStore()
    connections.put_connection("c2", OWNER)
    ws = WebSocketService(connections=connections, notifier=notifier)  # type: ignore[arg-type]
    ws.message("c2", "subscribe", '{"action": "subscribe", "task_id": "t1", "after_seq": 1}')
    assert [(m["seq"], m["type"]) for m in notifier.sent["c2"]] == [(2, "output"), (3, "exit")]


def test_the_real_exit_and_a_finalization_are_never_both_stored(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    store = TaskStore()
    store.create(OWNER, "t1", "`echo done`", "c1")
    connection = ConnectionStore().put_connection("c1", OWNER)
    TaskSubscriptions().subscribe(connection, "t1", 0)
    TaskProcess(OWNER, "t1", notifier=notifier).run()  # type: ignore[arg-type]
    assert _finalize(notifier) is False  # the process ended it: nothing to finalize
    exits = [m for m in store.messages(OWNER, "t1", 0) if m.is_exit]
    assert [m.message["status"] for m in exits] == ["completed"]
    # The other order: finalized first, then the process may not store its own exit.
    assert store.claim_exit(OWNER, "t1", "task", TaskStatus.COMPLETED) is False


def test_a_task_process_finalized_while_it_ran_drops_its_own_exit(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    store = TaskStore()
    store.create(OWNER, "t1", "`echo late`", "c1")
    process = TaskProcess(OWNER, "t1", notifier=notifier)  # type: ignore[arg-type]
    original = store.claim_exit

    def finalized_meanwhile(*args: object, **kwargs: object) -> bool:
        _finalize(notifier, store=store)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    process.store.claim_exit = finalized_meanwhile  # type: ignore[method-assign]
    process.run()
    exits = [m for m in store.messages(OWNER, "t1", 0) if m.is_exit]
    assert [m.message["status"] for m in exits] == ["failed"]


def test_the_lapsed_lease_is_checked_in_the_same_write(
    aws: Aws, notifier: RecordingNotifier
) -> None:
    store = _running_task_that_died(notifier, lease_s=30)
    assert _finalize(notifier, lapsed_at=int(time.time())) is False  # still leased
    assert store.get(OWNER, "t1").status is TaskStatus.RUNNING
    assert _finalize(notifier, lapsed_at=int(time.time()) + 60) is True


@pytest.mark.parametrize("route", ["subscribe", "cancel"])
def test_a_read_of_a_task_whose_lease_lapsed_finalizes_it(
    aws: Aws, notifier: RecordingNotifier, route: str
) -> None:
    store = _running_task_that_died(notifier, lease_s=-5)  # the last heartbeat is long gone
    ws = WebSocketService(connections=ConnectionStore(), notifier=notifier)  # type: ignore[arg-type]
    ws.message("c1", route, f'{{"action": "{route}", "task_id": "t1", "after_seq": 2}}')
    exits = [m for m in notifier.sent["c1"] if m.get("type") == "exit"]
    assert len(exits) == 1 and exits[0]["status"] == "failed" and exits[0]["seq"] == 3
    assert "stopped unexpectedly" in exits[0]["error"]
    assert store.get(OWNER, "t1").closed


def test_a_read_of_a_live_task_leaves_it_running(aws: Aws, notifier: RecordingNotifier) -> None:
    store = _running_task_that_died(notifier, lease_s=30)
    ws = WebSocketService(connections=ConnectionStore(), notifier=notifier)  # type: ignore[arg-type]
    ws.message("c1", "subscribe", '{"action": "subscribe", "task_id": "t1", "after_seq": 2}')
    assert store.get(OWNER, "t1").status is TaskStatus.RUNNING
    assert not any(m.get("type") == "exit" for m in notifier.sent["c1"])


def test_the_running_task_records_pid_lease_and_cursors(
    aws: Aws, notifier: RecordingNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_HEARTBEAT_S", "0.1")
    store = TaskStore()
    store.create(OWNER, "t1", "`echo hi; sleep 0.8`", "c1")
    connection = ConnectionStore().put_connection("c1", OWNER)
    TaskSubscriptions().subscribe(connection, "t1", 0)
    seen = []
    thread = threading.Thread(
        target=lambda: TaskProcess(OWNER, "t1", notifier=notifier).run()  # type: ignore[arg-type]
    )
    thread.start()
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        record = store.get(OWNER, "t1")
        if record.cursors:
            seen.append(record)
        time.sleep(0.05)
    thread.join()
    assert seen, "no heartbeat recorded the subscriber's cursor"
    record = seen[-1]
    assert record.cursors["c1"][1] == 1  # "hi" was pushed to c1
    assert record.pid is not None and record.lease_until is not None
    assert record.lease_until > time.time()
