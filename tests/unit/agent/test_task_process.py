"""The task process in-process on moto: plan, run, store, push, exit."""

from __future__ import annotations

import threading
import time

import pytest

from horizon.agent import task as task_module
from horizon.agent.models import TaskStatus
from horizon.agent.settings import get_agent_settings
from horizon.agent.store import TaskStore
from horizon.agent.subscriptions import TaskSubscriptions
from horizon.agent.task import TaskProcess, main, step_env
from horizon.realtime.connections import ConnectionStore
from tests.conftest import Aws
from tests.unit.agent.conftest import RecordingNotifier
from tests.unit.realtime.conftest import sent_to

OWNER = "alice"


def _start(task: str, notifier: RecordingNotifier, task_id: str = "t1") -> TaskProcess:
    store = TaskStore()
    store.create(OWNER, task_id, task, "c1")
    connection = ConnectionStore().put_connection("c1", OWNER)
    TaskSubscriptions().subscribe(connection, task_id, 0)
    return TaskProcess(OWNER, task_id, notifier=notifier)  # type: ignore[arg-type]


def _output(notifier: RecordingNotifier, stream: str) -> str:
    return "".join(
        m["data"] for m in notifier.sent["c1"] if m["type"] == "output" and m["stream"] == stream
    )


def test_a_command_runs_to_completed(aws: Aws, notifier: RecordingNotifier) -> None:
    outcome = _start("`echo hello; echo oops >&2`", notifier).run()
    assert outcome.status is TaskStatus.COMPLETED
    assert _output(notifier, "stdout") == "hello\n"
    assert _output(notifier, "stderr") == "oops\n"
    messages = notifier.sent["c1"]
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    assert messages[-1] == {
        "type": "exit",
        "task_id": "t1",
        "seq": len(messages),
        "status": "completed",
        "exit_code": 0,
    }
    record = TaskStore().get(OWNER, "t1")
    assert record.status is TaskStatus.COMPLETED and record.closed


def test_a_failing_command_ends_failed_with_its_code(aws: Aws, notifier: RecordingNotifier) -> None:
    _start("sh -c 'exit 3'", notifier).run()
    assert notifier.sent["c1"][-1]["status"] == "failed"
    assert notifier.sent["c1"][-1]["exit_code"] == 3


def test_an_unknown_phrasing_fails_with_the_reason(aws: Aws, notifier: RecordingNotifier) -> None:
    _start("Please make the build faster.", notifier).run()
    final = notifier.sent["c1"][-1]
    assert final["status"] == "failed" and "could not understand" in final["error"]
    assert "could not understand" in _output(notifier, "stderr")


def test_a_cancel_request_stops_the_task(aws: Aws, notifier: RecordingNotifier) -> None:
    process = _start("sleep 30", notifier)
    threading.Timer(0.5, lambda: TaskStore().request_cancel(OWNER, "t1")).start()
    started = time.monotonic()
    outcome = process.run()
    assert outcome.status is TaskStatus.CANCELLED
    assert time.monotonic() - started < 0.5 + 2.5
    assert notifier.sent["c1"][-1]["status"] == "cancelled"


def test_timeout(aws: Aws, notifier: RecordingNotifier, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_TIMEOUT_S", "0.5")
    get_agent_settings.cache_clear()
    _start("sleep 30", notifier).run()
    assert notifier.sent["c1"][-1]["status"] == "timeout"


def test_a_finished_task_is_not_run_again(aws: Aws, notifier: RecordingNotifier) -> None:
    _start("echo once", notifier).run()
    count = len(notifier.sent["c1"])
    TaskProcess(OWNER, "t1", notifier=notifier).run()  # type: ignore[arg-type]
    assert len(notifier.sent["c1"]) == count


def test_a_second_launch_of_a_running_task_backs_off(aws: Aws, notifier: RecordingNotifier) -> None:
    process = _start("echo once", notifier)
    TaskStore().start(OWNER, "t1", 1, 30)  # another process took it
    outcome = process.run()
    assert outcome.status is TaskStatus.RUNNING
    assert notifier.sent.get("c1", []) == []


def test_the_entry_point_pushes_and_stores_under_the_launchers_correlation_id(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TaskStore()
    store.create(OWNER, "t1", "`echo hello`", "c1")
    TaskSubscriptions().subscribe(ConnectionStore().put_connection("c1", OWNER), "t1", 0)
    monkeypatch.setenv("CORRELATION_ID", "req-9")
    # Not for the test process: its dumpable flag and SIGTERM handler stay as they are.
    monkeypatch.setattr(task_module, "deny_inspection", lambda: False)
    monkeypatch.setattr(task_module.signal, "signal", lambda *args: None)

    assert main(["--owner", OWNER, "--task-id", "t1"]) == 0

    pushed = sent_to("c1")  # through moto's @connections, with the real notifier
    assert pushed[-1]["type"] == "exit"
    assert {m["correlation_id"] for m in pushed} == {"req-9"}
    assert {c.message["correlation_id"] for c in store.messages(OWNER, "t1", 0)} == {"req-9"}


def test_steps_see_no_credentials(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x")
    env = step_env(tmp_path)
    assert not any(name.startswith("AWS_") for name in env)
    assert env["HOME"] == str(tmp_path)
