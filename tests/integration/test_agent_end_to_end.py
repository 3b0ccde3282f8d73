"""Agent tasks through the local stack with real WebSocket clients (no internet: file:// repos).

Each task runs as `python -m horizon.agent.task` in a subprocess, as Fargate would run it,
and pushes through the gateway's @connections API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.integration.conftest import RunningStack, start_local_stack

TIMEOUT_S = 4  # the stack's task timeout: every other task here ends far sooner


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with start_local_stack(AGENT_TIMEOUT_S=str(TIMEOUT_S)) as running:
        yield running


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository with seven commits, made here."""
    path = tmp_path_factory.mktemp("origin")
    git = ["git", "-C", str(path), "-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for i in range(7):
        (path / f"file{i}.txt").write_text(f"content {i}\n")
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"commit number {i}"], check=True)
    return path


def _expected_log(repository: Path) -> list[str]:
    result = subprocess.run(
        ["git", "-C", str(repository), "log", "-n", "5", "--oneline"],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.splitlines()


async def _receive_until_exit(
    socket: Any, received: list[dict[str, Any]], timeout_s: float, stop_after: int | None = None
) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout_s):
        async for frame in socket:
            message = json.loads(frame)
            received.append(message)
            if message.get("type") in ("exit", "error"):
                break
            outputs = sum(m.get("type") == "output" for m in received)
            if stop_after is not None and outputs >= stop_after:
                break
    return received


async def _run(url: str, first: dict[str, Any], timeout_s: float = 30) -> list[dict[str, Any]]:
    async with websockets.connect(url, open_timeout=10, max_size=2**20) as socket:
        await socket.send(json.dumps(first))
        return await _receive_until_exit(socket, [], timeout_s)


def run_task(stack: RunningStack, task: str, timeout_s: float = 30) -> list[dict[str, Any]]:
    """Send `{"task": ...}` at /ws/task and collect messages until exit (or error)."""
    return asyncio.run(_run(f"{stack.ws_url}/task", {"task": task}, timeout_s))


def output(messages: list[dict[str, Any]], stream: str) -> bytes:
    data = b""
    for message in messages:
        if message["type"] == "output" and message["stream"] == stream:
            if message.get("encoding") == "base64":
                data += base64.b64decode(message["data"])
            else:
                data += message["data"].encode()
    return data


def assert_in_order(messages: list[dict[str, Any]]) -> None:
    numbered = [m for m in messages if m["type"] in ("output", "exit")]
    assert [m["seq"] for m in numbered] == list(range(1, len(numbered) + 1))


def test_clone_and_git_log(stack: RunningStack, repository: Path) -> None:
    task = (
        f"Clone the public repository at `{repository.as_uri()}` and run `git log -n 5 --oneline`."
    )
    messages = run_task(stack, task)
    assert messages[0]["type"] == "accepted"
    task_id = messages[0]["task_id"]
    assert all(m["task_id"] == task_id for m in messages)
    assert output(messages, "stdout").decode().splitlines() == _expected_log(repository)
    assert "Cloning into" in output(messages, "stderr").decode()
    assert messages[-1]["type"] == "exit"
    assert (messages[-1]["status"], messages[-1]["exit_code"]) == ("completed", 0)
    assert_in_order(messages)


def test_run_action_at_ws_and_a_failing_command(stack: RunningStack) -> None:
    body = {"action": "run", "task": "`echo before; exit 5`", "request_id": "fail-1"}
    messages = asyncio.run(_run(stack.ws_url, body))
    run_id = messages[0]["correlation_id"]  # the run request's (API Gateway's request id)
    assert messages[0] == {
        "type": "accepted",
        "task_id": messages[0]["task_id"],
        "request_id": "fail-1",
        "correlation_id": run_id,
    }
    # The task process's messages too: the launcher hands it the id.
    assert {m["correlation_id"] for m in messages} == {run_id}
    assert output(messages, "stdout") == b"before\n"
    assert (messages[-1]["status"], messages[-1]["exit_code"]) == ("failed", 5)


def test_unknown_phrasing_fails_with_a_reason(stack: RunningStack) -> None:
    messages = run_task(stack, "Please make everything better.")
    assert messages[-1]["status"] == "failed"
    assert "could not understand" in messages[-1]["error"]


def test_malformed_messages_get_errors_and_the_connection_stays_open(stack: RunningStack) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with websockets.connect(f"{stack.ws_url}/task", open_timeout=10) as socket:
            received = []
            for body in ("not json", json.dumps({"task": 42}), json.dumps({"action": "ping"})):
                await socket.send(body)
                async with asyncio.timeout(10):
                    received.append(json.loads(await socket.recv()))
            return received

    first, second, third = asyncio.run(scenario())
    assert first["type"] == second["type"] == "error"
    assert second["code"] == "bad_request"
    assert third["type"] == "pong"


def test_resume_after_a_dropped_connection(stack: RunningStack) -> None:
    task = "`for i in $(seq 1 40); do echo line $i; sleep 0.05; done`"

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with websockets.connect(f"{stack.ws_url}/task", open_timeout=10) as socket:
            await socket.send(json.dumps({"task": task}))
            first = await _receive_until_exit(socket, [], 30, stop_after=3)
        # Dropped. A new connection picks up after the last seq it has.
        task_id = first[0]["task_id"]
        last = max(m["seq"] for m in first if m["type"] == "output")
        async with websockets.connect(stack.ws_url, open_timeout=10) as socket:
            resume = {"action": "subscribe", "task_id": task_id, "after_seq": last}
            await socket.send(json.dumps(resume))
            second = await _receive_until_exit(socket, [], 30)
        return first, second

    first, second = asyncio.run(scenario())
    combined = first + second
    assert_in_order(combined)
    expected = "".join(f"line {i}\n" for i in range(1, 41))
    assert output(combined, "stdout").decode() == expected
    assert combined[-1]["status"] == "completed"


def test_two_clients_watch_one_task(stack: RunningStack) -> None:
    task = "`for i in $(seq 1 20); do echo $i; sleep 0.05; done`"

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with (
            websockets.connect(f"{stack.ws_url}/task", open_timeout=10) as owner,
            websockets.connect(stack.ws_url, open_timeout=10) as watcher,
        ):
            await owner.send(json.dumps({"task": task}))
            accepted = json.loads(await owner.recv())
            await watcher.send(
                json.dumps({"action": "subscribe", "task_id": accepted["task_id"], "after_seq": 0})
            )
            return await asyncio.gather(
                _receive_until_exit(owner, [accepted], 30), _receive_until_exit(watcher, [], 30)
            )

    owner_messages, watcher_messages = asyncio.run(scenario())
    assert owner_messages[1:] == watcher_messages
    assert_in_order(watcher_messages)
    assert output(watcher_messages, "stdout").decode().split() == [str(i) for i in range(1, 21)]


def test_subscribe_after_the_end_replays_everything(stack: RunningStack) -> None:
    messages = run_task(stack, "`echo one; echo two >&2`")
    task_id, last = messages[0]["task_id"], messages[-1]["seq"]
    body = {"action": "subscribe", "task_id": task_id, "after_seq": 1}
    replayed = asyncio.run(_run(stack.ws_url, body))
    assert replayed == [m for m in messages if m.get("seq", 0) > 1]
    assert replayed[-1]["seq"] == last


def test_cancel(stack: RunningStack) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], float]:
        async with websockets.connect(f"{stack.ws_url}/task", open_timeout=10) as socket:
            await socket.send(json.dumps({"task": "`echo started; sleep 60`"}))
            received = await _receive_until_exit(socket, [], 30, stop_after=1)
            task_id = received[0]["task_id"]
            cancelled_at = time.monotonic()
            await socket.send(json.dumps({"action": "cancel", "task_id": task_id}))
            await _receive_until_exit(socket, received, 30)
            return received, time.monotonic() - cancelled_at

    messages, elapsed = asyncio.run(scenario())
    assert messages[-1]["type"] == "exit" and messages[-1]["status"] == "cancelled"
    assert elapsed < 2.5  # within 2 s, plus a little for the local round trips


def test_timeout(stack: RunningStack) -> None:
    started = time.monotonic()
    messages = run_task(stack, "`echo waiting; sleep 60`")
    assert messages[-1]["status"] == "timeout"
    assert TIMEOUT_S <= time.monotonic() - started < TIMEOUT_S + 4


def test_large_output_arrives_complete_and_in_order() -> None:
    # Over 10 MiB of numbered lines, plus bytes that are not UTF-8 on stderr. Its own stack:
    # this takes longer than the shared stack's task timeout.
    task = r"`seq 1 1450000; printf '\377\376' >&2`"
    with start_local_stack(AGENT_TIMEOUT_S="60") as stack:
        messages = run_task(stack, task, timeout_s=60)
    assert messages[-1]["status"] == "completed"
    assert_in_order(messages)
    expected = "".join(f"{i}\n" for i in range(1, 1_450_001)).encode()
    assert len(expected) >= 10 * 2**20
    assert output(messages, "stdout") == expected
    assert output(messages, "stderr") == b"\xff\xfe"
    assert any(m.get("encoding") == "base64" for m in messages)
    chunks = [m for m in messages if m["type"] == "output" and m["stream"] == "stdout"]
    assert len(expected) / len(chunks) >= 12 * 1024  # coalesced, not line by line


def test_a_killed_task_process_ends_failed_with_one_exit(stack: RunningStack) -> None:
    # The step prints its parent (the task process) and itself, then sleeps.
    task = "`echo pids $PPID $$; sleep 60`"

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with websockets.connect(f"{stack.ws_url}/task", open_timeout=10) as socket:
            await socket.send(json.dumps({"task": task}))
            received = await _receive_until_exit(socket, [], 30, stop_after=1)
            _, runner_pid, step_pid = output(received, "stdout").split()
            os.kill(int(runner_pid), signal.SIGKILL)  # as the OOM killer or a Fargate stop
            try:
                await _receive_until_exit(socket, received, 15)
                extra: list[dict[str, Any]] = []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.5):
                        extra.append(json.loads(await socket.recv()))
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(step_pid), signal.SIGKILL)  # the orphaned step
        return received, extra

    messages, extra = asyncio.run(scenario())
    assert extra == []  # nothing after the exit: exactly one
    assert output(messages, "stdout").startswith(b"pids ")
    assert [m["type"] for m in messages[1:]] == ["output", "exit"], [
        (m.get("seq"), m.get("stream"), m.get("data"), m.get("error")) for m in messages
    ]
    assert_in_order(messages)
    assert messages[-1]["status"] == "failed"
    assert messages[-1]["error"] == "the task process stopped unexpectedly (signal 9)"
    # A later subscriber sees the same end, not a task running forever.
    body = {"action": "subscribe", "task_id": messages[0]["task_id"], "after_seq": 0}
    assert asyncio.run(_run(stack.ws_url, body)) == messages[1:]


def test_steps_cannot_read_the_task_process_environment() -> None:
    # In Fargate the task process's environment holds AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
    # and the steps share its uid. Here the task process has the local stack's AWS_*
    # variables; as root (CAP_SYS_PTRACE) a step could read anything, so the task process
    # starts without capabilities, as the container's unprivileged user has none.
    scan = (
        "for f in /proc/[0-9]*/environ; do "
        "tr '\\0' '\\n' 2>/dev/null <$f | grep -q ^AWS_ && echo leak $f; done"
    )
    task = f"`cat /proc/$PPID/environ; echo read=$?; {scan}; echo scanned; env`"
    overrides = {"AGENT_LOCAL_DROP_CAPABILITIES": "true"} if os.geteuid() == 0 else {}
    with start_local_stack(**overrides) as stack:
        assert any(name.startswith("AWS_") for name in stack.env)  # a leak would show
        messages = run_task(stack, task)
    stdout = output(messages, "stdout").decode()
    assert "read=1" in stdout, messages[-1].get("error")
    assert "Permission denied" in output(messages, "stderr").decode()
    assert "leak" not in stdout
    assert "scanned" in stdout
    env_lines = stdout.split("scanned\n", 1)[1].splitlines()
    assert "HOME" in {line.split("=", 1)[0] for line in env_lines}
    assert not [line for line in env_lines if line.startswith("AWS_")]


def test_only_the_owner_can_watch_or_cancel() -> None:
    async def scenario(ws_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with (
            websockets.connect(f"{ws_url}/task?token=token-a", open_timeout=10) as alice,
            websockets.connect(f"{ws_url}?token=token-b", open_timeout=10) as bob,
        ):
            await alice.send(json.dumps({"task": "`echo mine; sleep 1`"}))
            accepted = json.loads(await alice.recv())
            task_id = accepted["task_id"]
            replies = []
            for body in (
                {"action": "subscribe", "task_id": task_id, "after_seq": 0},
                {"action": "cancel", "task_id": task_id},
            ):
                await bob.send(json.dumps(body))
                async with asyncio.timeout(10):
                    replies.append(json.loads(await bob.recv()))
            return await _receive_until_exit(alice, [accepted], 30), replies

    with start_local_stack(API_TOKENS="token-a=alice,token-b=bob") as tenants:
        alice_messages, bob_replies = asyncio.run(scenario(tenants.ws_url))
    assert [reply["code"] for reply in bob_replies] == ["not_found", "not_found"]
    assert output(alice_messages, "stdout") == b"mine\n"
    assert alice_messages[-1]["status"] == "completed"  # bob's cancel did nothing
