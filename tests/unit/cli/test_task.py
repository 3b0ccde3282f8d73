"""`horizon task`: live output on the right streams, the task's exit code, resume without
duplicates after a dropped connection, gaps filled, Ctrl-C cancels."""

from __future__ import annotations

import asyncio
import json
import os
import signal

from horizon_cli.errors import ExitCode
from tests.unit.cli.conftest import send

TASK = "t-1"


def out(seq: int, data: str, stream: str = "stdout") -> dict:
    return {"type": "output", "task_id": TASK, "seq": seq, "stream": stream, "data": data}


def end(seq: int, exit_code: int | None, status: str = "completed", **extra: object) -> dict:
    return {
        "type": "exit",
        "task_id": TASK,
        "seq": seq,
        "status": status,
        "exit_code": exit_code,
        **extra,
    }


ACCEPTED = {"type": "accepted", "task_id": TASK}


def test_streams_stdout_and_stderr_and_exits_with_the_code(cli, ws_server) -> None:
    async def handler(server, connection) -> None:
        run = await server.receive(connection)
        assert run["action"] == "run" and run["task"] == "make test" and run["request_id"]
        await send(
            connection, ACCEPTED, out(1, "hi\n"), out(2, "careful\n", "stderr"), end(3, 3, "failed")
        )
        await connection.wait_closed()

    server = ws_server(handler)
    result = cli("--api-key", "hzn_k", "task", "make test", ws_url=server.url)
    assert result.exit_code == 3
    assert result.stdout == "hi\n"
    assert "careful\n" in result.stderr
    assert server.headers[0]["Authorization"] == "Bearer hzn_k"


def test_a_dropped_connection_resumes_after_the_last_seq_and_prints_nothing_twice(
    cli, ws_server
) -> None:
    connections = []

    async def handler(server, connection) -> None:
        connections.append(connection)
        message = await server.receive(connection)
        if len(connections) == 1:
            await send(connection, ACCEPTED, out(1, "a\n"), out(2, "b\n"))
            await connection.close()  # the network drops
            return
        assert message == {"action": "subscribe", "task_id": TASK, "after_seq": 2}
        # A replay may repeat what was already pushed.
        await send(connection, out(2, "b\n"), out(3, "c\n"), end(4, 0))
        await connection.wait_closed()

    server = ws_server(handler)
    result = cli("task", "echo", ws_url=server.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "a\nb\nc\n"
    assert "resuming after seq 2" in result.stderr


def test_a_drop_before_accepted_runs_the_same_request_again(cli, ws_server) -> None:
    async def handler(server, connection) -> None:
        message = await server.receive(connection)
        if len(server.received) == 1:
            await connection.close()
            return
        assert message["request_id"] == server.received[0]["request_id"]
        # The server knows this request_id: `accepted` again, but no subscription.
        await send(connection, ACCEPTED)
        subscribe = await server.receive(connection)
        assert subscribe == {"action": "subscribe", "task_id": TASK, "after_seq": 0}
        await send(connection, out(1, "once\n"), end(2, 0))
        await connection.wait_closed()

    server = ws_server(handler)
    result = cli("task", "echo once", ws_url=server.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "once\n"


def test_a_gap_is_filled_by_a_resubscribe_in_order(cli, ws_server) -> None:
    async def handler(server, connection) -> None:
        await server.receive(connection)
        await send(connection, ACCEPTED, out(1, "1\n"), out(3, "3\n"))
        refill = await server.receive(connection)
        assert refill == {"action": "subscribe", "task_id": TASK, "after_seq": 1}
        await send(connection, out(2, "2\n"), out(3, "3\n"), end(4, 0))
        await connection.wait_closed()

    server = ws_server(handler)
    result = cli("task", "count", ws_url=server.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "1\n2\n3\n"


def test_ctrl_c_sends_cancel_and_waits_for_the_exit(cli, ws_server) -> None:
    async def handler(server, connection) -> None:
        await server.receive(connection)
        await send(connection, ACCEPTED, out(1, "working\n"))
        await asyncio.sleep(0.2)  # the client has the task id by now
        os.kill(os.getpid(), signal.SIGINT)
        cancel = await server.receive(connection)
        assert cancel == {"action": "cancel", "task_id": TASK}
        await send(connection, end(2, None, "cancelled"))
        await connection.wait_closed()

    server = ws_server(handler)
    result = cli("task", "sleep 100", ws_url=server.url)
    assert result.exit_code == ExitCode.INTERRUPTED
    assert result.stdout == "working\n"
    assert "cancelling task t-1" in result.stderr
    assert "task cancelled" in result.stderr


def test_json_mode_prints_each_message_once_as_a_json_line(cli, ws_server) -> None:
    async def handler(server, connection) -> None:
        await server.receive(connection)
        await send(connection, ACCEPTED, out(1, "hi\n"), out(1, "hi\n"), end(2, 0))
        await connection.wait_closed()

    server = ws_server(handler)
    result = cli("task", "echo hi", "--json", ws_url=server.url)
    assert result.exit_code == 0
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == ["output", "exit"]


def test_a_refused_task_or_key_is_one_line(cli, ws_server) -> None:
    async def handler(server, connection) -> None:
        await server.receive(connection)
        await send(
            connection,
            {"type": "error", "code": "bad_request", "message": "task must be a non-empty string"},
        )
        await connection.wait_closed()

    refusing = cli("task", " ", ws_url=ws_server(handler).url)
    assert refusing.exit_code == ExitCode.API_ERROR
    assert "task must be a non-empty string" in refusing.stderr

    locked = cli("--api-key", "bad", "task", "echo", ws_url=ws_server(handler, refuse_with=401).url)
    assert locked.exit_code == ExitCode.REFUSED
    assert "refused the credential (401)" in locked.stderr
    assert "Traceback" not in locked.stderr
