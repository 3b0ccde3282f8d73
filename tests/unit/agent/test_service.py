"""The WebSocket routes for tasks (run, cancel, subscribe) through the real handler, on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from horizon.agent.store import TaskStore
from horizon.realtime import WebSocketService
from horizon.realtime.connections import ConnectionStore
from tests.conftest import Aws
from tests.unit.agent.conftest import RecordingNotifier


class FakeLauncher:
    def __init__(self) -> None:
        self.launched: list[tuple[str, str]] = []

    def launch(self, owner: str, task_id: str) -> str:
        self.launched.append((owner, task_id))
        return "fake"


@pytest.fixture
def service(aws: Aws, notifier: RecordingNotifier) -> tuple[WebSocketService, FakeLauncher]:
    connections = ConnectionStore()
    connections.put_connection("c1", "alice")
    connections.put_connection("c2", "bob")
    ws = WebSocketService(connections=connections, notifier=notifier)  # type: ignore[arg-type]
    launcher = FakeLauncher()
    ws.tasks._launcher = launcher
    return ws, launcher


def _send(ws: WebSocketService, connection_id: str, route: str, body: Any) -> None:
    ws.message(connection_id, route, body if isinstance(body, str) else json.dumps(body))


def test_a_task_message_on_default_is_accepted_recorded_and_launched(
    service: tuple[WebSocketService, FakeLauncher], notifier: RecordingNotifier
) -> None:
    ws, launcher = service
    _send(ws, "c1", "$default", {"task": "echo hi"})
    accepted = notifier.sent["c1"][0]
    assert accepted["type"] == "accepted"
    assert launcher.launched == [("alice", accepted["task_id"])]
    record = TaskStore().get("alice", accepted["task_id"])
    assert record.task == "echo hi" and record.connection_id == "c1"


def test_run_with_a_request_id_launches_once(
    service: tuple[WebSocketService, FakeLauncher], notifier: RecordingNotifier
) -> None:
    ws, launcher = service
    body = {"action": "run", "task": "ls", "request_id": "r-1"}
    _send(ws, "c1", "run", body)
    _send(ws, "c1", "run", body)
    ids = {m["task_id"] for m in notifier.sent["c1"]}
    assert len(ids) == 1 and len(launcher.launched) == 1
    assert notifier.sent["c1"][0]["request_id"] == "r-1"


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("$default", "not json"),
        ("run", {"action": "run"}),
        ("run", {"action": "run", "task": "  "}),
        ("run", {"action": "run", "task": "x" * 5000}),
        ("run", {"action": "run", "task": "ls", "request_id": 5}),
        ("cancel", {"action": "cancel"}),
        ("subscribe", {"action": "subscribe", "task_id": "../x"}),
        ("subscribe", {"action": "subscribe", "task_id": "abc", "after_seq": -1}),
        ("subscribe", {"action": "subscribe", "task_id": "abc", "after_seq": "3"}),
    ],
)
def test_malformed_messages_get_an_error(
    service: tuple[WebSocketService, FakeLauncher],
    notifier: RecordingNotifier,
    route: str,
    body: Any,
) -> None:
    ws, launcher = service
    _send(ws, "c1", route, body)
    assert [m["type"] for m in notifier.sent["c1"]] == ["error"]
    assert notifier.sent["c1"][0]["code"] == "bad_request"
    assert launcher.launched == []


def test_only_the_owner_can_cancel_or_subscribe(
    service: tuple[WebSocketService, FakeLauncher], notifier: RecordingNotifier
) -> None:
    ws, _ = service
    _send(ws, "c1", "$default", {"task": "sleep 5"})
    task_id = notifier.sent["c1"][0]["task_id"]
    _send(ws, "c2", "cancel", {"action": "cancel", "task_id": task_id})
    _send(ws, "c2", "subscribe", {"action": "subscribe", "task_id": task_id, "after_seq": 0})
    assert [m["code"] for m in notifier.sent["c2"]] == ["not_found", "not_found"]
    assert not TaskStore().get("alice", task_id).cancel_requested
    _send(ws, "c1", "cancel", {"action": "cancel", "task_id": task_id})
    assert TaskStore().get("alice", task_id).cancel_requested


def test_a_failed_launch_ends_the_task_failed(
    service: tuple[WebSocketService, FakeLauncher], notifier: RecordingNotifier
) -> None:
    from horizon.agent.exceptions import LaunchError

    ws, launcher = service

    def refuse(owner: str, task_id: str) -> str:
        raise LaunchError("no capacity")

    launcher.launch = refuse  # type: ignore[method-assign]
    _send(ws, "c1", "run", {"action": "run", "task": "ls"})
    kinds = [m["type"] for m in notifier.sent["c1"]]
    assert kinds == ["accepted", "exit"]
    assert notifier.sent["c1"][1]["status"] == "failed"
    assert "no capacity" in notifier.sent["c1"][1]["error"]


def test_a_readers_key_follows_tasks_but_may_not_run_or_cancel_them(
    service: tuple[WebSocketService, FakeLauncher], notifier: RecordingNotifier
) -> None:
    from horizon.identity import IdentityService
    from horizon.identity.models import KeyCreate
    from horizon.realtime import ConnectRequest

    ws, launcher = service
    reader = IdentityService().create_key(KeyCreate(tenant="alice", tier="pro", role="reader"))
    assert ws.connect(ConnectRequest("c3", {"x-api-key": reader.key}, {})) == 200
    _send(ws, "c1", "$default", {"task": "sleep 5"})
    task_id = notifier.sent["c1"][0]["task_id"]
    _send(ws, "c3", "run", {"action": "run", "task": "echo no"})
    _send(ws, "c3", "cancel", {"action": "cancel", "task_id": task_id})
    assert [m["code"] for m in notifier.sent["c3"]] == ["forbidden", "forbidden"]
    assert len(launcher.launched) == 1 and not TaskStore().get("alice", task_id).cancel_requested
    _send(ws, "c3", "subscribe", {"action": "subscribe", "task_id": task_id, "after_seq": 0})
    assert [m.get("type") for m in notifier.sent["c3"]] == ["error", "error"]  # no refusal
