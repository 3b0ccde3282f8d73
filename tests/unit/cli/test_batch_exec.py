"""`horizon batch` (lines, JSON, stdin, --watch with live counts) and `horizon exec`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from horizon_cli.commands.batches import read_tasks
from horizon_cli.errors import UsageProblem
from tests.unit.cli.conftest import send

COUNTS = {"queued": 0, "running": 0, "completed": 3, "failed": 0, "timeout": 0}
DONE = {
    "batch_id": "b1",
    "status": "completed",
    "task_count": 3,
    "counts": COUNTS,
    "tasks": [],
    "next_cursor": None,
}


def test_tasks_are_lines_or_a_json_array() -> None:
    assert read_tasks("echo a\n\n  \necho b\r\n") == ["echo a", "echo b"]
    assert read_tasks('[ "echo a", {"task": "echo b", "client_ref": "x"} ]') == [
        "echo a",
        {"task": "echo b", "client_ref": "x"},
    ]
    with pytest.raises(UsageProblem):
        read_tasks("\n\n")
    with pytest.raises(UsageProblem, match="JSON array"):
        read_tasks("[oops")


def test_batch_from_stdin_posts_the_tasks(cli, api) -> None:
    api.on("POST", "/batch", {"batch_id": "b1", "status": "queued", "task_count": 2}, status=202)
    result = cli("batch", "-", "--idempotency-key", "k1", input="echo a\necho b\n")
    assert result.exit_code == 0, result.output
    assert api.bodies("POST", "/batch") == [["echo a", "echo b"]]
    assert api.requests[0].headers["Idempotency-Key"] == "k1"
    assert "batch b1: 2 tasks queued" in result.stdout


def test_batch_watch_shows_live_counts_and_exits_1_on_a_failure(
    cli, api, ws_server, tmp_path: Path
) -> None:
    async def handler(server, connection) -> None:
        assert await server.receive(connection) == {"action": "subscribe", "batch_id": "b1"}
        base = {"type": "batch", "batch_id": "b1", "task_count": 3}
        await send(
            connection,
            {
                **base,
                "seq": 1,
                "status": "running",
                "counts": {**COUNTS, "completed": 1, "queued": 2},
            },
            {
                **base,
                "seq": 3,
                "status": "completed",
                "counts": {**COUNTS, "completed": 2, "failed": 1},
            },
        )
        await connection.wait_closed()

    def describe(request: httpx.Request) -> httpx.Response:
        failed = request.url.params.get("status") == "failed"
        tasks = (
            [{"index": 2, "task": "false", "status": "failed", "exit_code": 1, "error": "exit 1"}]
            if failed
            else []
        )
        return httpx.Response(
            200, json={**DONE, "counts": {**COUNTS, "completed": 2, "failed": 1}, "tasks": tasks}
        )

    file = tmp_path / "tasks.txt"
    file.write_text("echo a\necho b\nfalse\n")
    api.on("POST", "/batch", {"batch_id": "b1", "status": "queued", "task_count": 3}, status=202)
    api.on("GET", "/batch/b1", describe)
    result = cli("batch", str(file), "--watch", ws_url=ws_server(handler).url)
    assert result.exit_code == 1
    assert "2 completed, 1 failed" in result.stdout
    assert "exit 1" in result.stdout
    assert "3/3" in result.stderr
    assert "1 of 3 tasks did not complete" in result.stderr


def test_batch_watch_polls_when_the_socket_is_quiet(cli, api, ws_server, monkeypatch) -> None:
    import horizon_cli.realtime as realtime

    async def handler(server, connection) -> None:
        await server.receive(connection)
        await connection.wait_closed()  # never a message: the poll sees the batch complete

    monkeypatch.setattr(realtime, "POLL_EVERY_S", 0.1)
    api.on("POST", "/batch", {"batch_id": "b1", "status": "queued", "task_count": 3}, status=202)
    api.on("GET", "/batch/b1", DONE)
    result = cli("--json", "batch", "-", "-w", input="a\nb\nc\n", ws_url=ws_server(handler).url)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["completed"] == 3


def test_exec_prints_both_streams_and_exits_with_the_code(cli, api, tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("print('hi')\n")
    api.on(
        "POST",
        "/execute",
        {
            "execution_id": "e1",
            "status": "FAILED",
            "stdout": "hi\n",
            "stderr": "oops\n",
            "exit_code": 4,
        },
    )
    result = cli("exec", str(program), "--timeout-s", "5")
    assert result.exit_code == 4
    assert result.stdout == "hi\n"
    assert "oops" in result.stderr
    assert api.bodies("POST", "/execute") == [
        {"language": "python", "code": "print('hi')\n", "timeout_s": 5.0}
    ]


def test_exec_polls_a_long_run(cli, api, monkeypatch) -> None:
    from horizon_cli.commands import execute

    monkeypatch.setattr(execute, "POLL_S", 0.01)
    states = iter(["RUNNING", "COMPLETED"])
    api.on(
        "POST",
        "/execute",
        lambda r: httpx.Response(202, json={"execution_id": "e1", "status": "QUEUED"}),
    )
    api.on(
        "GET",
        "/executions/e1",
        lambda r: httpx.Response(
            200, json={"status": next(states), "stdout": "done\n", "exit_code": 0}
        ),
    )
    result = cli("exec", "-", input="print('done')")
    assert result.exit_code == 0, result.output
    assert result.stdout == "done\n"
