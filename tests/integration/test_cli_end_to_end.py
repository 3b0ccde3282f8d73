"""The real `horizon` command, as a subprocess, against the local stack (`local_stack`):
an upload with its counts, tasks and their exit codes, a task whose connection drops, a
batch, an execution, a refused key."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.integration.clients import jsonl
from tests.integration.conftest import ROOT, RunningStack

pytestmark = pytest.mark.integration

TIMEOUT_S = 60


def horizon_command() -> list[str]:
    """The `horizon` script that `make install` puts next to this Python; `python -m
    horizon_cli` (the same app) where it has not been installed yet."""
    script = shutil.which("horizon", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "horizon_cli"]


@pytest.fixture
def horizon(local_stack: RunningStack, tmp_path: Path):
    """Run `horizon ARGS` against the stack; returns the finished process."""
    env = {
        **os.environ,
        # This tree's horizon_cli, whichever worktree installed the editable script.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "HORIZON_URL": local_stack.rest_url,
        "HORIZON_WS_URL": local_stack.ws_url,
        "HORIZON_CONFIG": str(tmp_path / "absent.toml"),
        "COLUMNS": "200",
    }
    for name in ("HORIZON_API_KEY", "HORIZON_PROFILE"):
        env.pop(name, None)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*horizon_command(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=TIMEOUT_S,
        )

    return run


def test_upload_watch_shows_the_counts_and_first_invalid_lines(horizon, tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    log.write_bytes(
        jsonl(
            [
                {"timestamp": "2026-11-22T10:00:00Z", "level": "INFO", "message": "hello"},
                "not json",
                {"timestamp": "2026-11-22T10:00:01Z", "http_status": "oops"},
            ]
        )
    )
    done = horizon("upload", str(log), "--watch")
    assert done.returncode == 0, done.stderr
    assert "completed: 3 lines, 1 valid, 2 invalid" in done.stdout
    assert "http_status must be an integer" in done.stdout

    job_id = done.stdout.split()[1]
    shown = horizon("--json", "job", job_id)
    assert json.loads(shown.stdout)["valid"] == 1
    errors = horizon("errors", job_id, "--json")
    assert [item["line"] for item in json.loads(errors.stdout)] == [2, 3]


def test_a_task_prints_its_output_and_exits_with_its_code(horizon) -> None:
    hello = horizon("task", "echo hi")
    assert (hello.returncode, hello.stdout) == (0, "hi\n"), hello.stderr

    failing = horizon("task", "sh -c 'echo out; echo err >&2; exit 3'")
    assert failing.returncode == 3, failing.stderr
    assert failing.stdout == "out\n"
    assert "err\n" in failing.stderr


def test_a_batch_of_three_tasks_from_stdin(horizon) -> None:
    done = horizon("batch", "-", "--watch", stdin="echo one\necho two\necho three\n")
    assert done.returncode == 0, done.stderr
    assert "completed: 0 queued, 0 running, 3 completed, 0 failed" in done.stdout


def test_exec_prints_and_exits_with_the_program_code(horizon, tmp_path: Path) -> None:
    program = tmp_path / "hello.py"
    program.write_text("import sys\nprint('hello from the sandbox')\nsys.exit(4)\n")
    done = horizon("exec", str(program))
    assert done.returncode == 4, done.stderr
    assert done.stdout == "hello from the sandbox\n"


def test_a_bad_key_is_a_clear_error_without_traceback(horizon) -> None:
    for args in (("jobs",), ("task", "echo hi")):
        refused = horizon("--api-key", "hzn_nope_wrong", *args)
        assert refused.returncode == 3, refused.stderr
        assert refused.stderr.startswith("horizon: ")
        assert "refused the credential (401)" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert refused.stdout == ""


class ServerFrames:
    """Counts the data frames a WebSocket server sends (unmasked frames after the HTTP
    handshake; payloads may be compressed, so frames are counted, not read)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.handshake_done = False
        self.count = 0

    def feed(self, data: bytes) -> int:
        self.buffer += data
        if not self.handshake_done:
            _, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return self.count
            self.handshake_done, self.buffer = True, rest
        while len(self.buffer) >= 2:
            length, offset = self.buffer[1] & 0x7F, 2
            if length >= 126:
                size = 2 if length == 126 else 8
                if len(self.buffer) < 2 + size:
                    break
                length, offset = int.from_bytes(self.buffer[2 : 2 + size], "big"), 2 + size
            if len(self.buffer) < offset + length:
                break
            if self.buffer[0] & 0x0F in (1, 2):  # text or binary, not ping/pong/close
                self.count += 1
            self.buffer = self.buffer[offset + length :]
        return self.count


@contextmanager
def dropping_proxy(target: str, cut_after_frames: int) -> Iterator[tuple[str, list[int]]]:
    """A TCP proxy to the WebSocket URL `target` that cuts its first connection once the
    server sent `cut_after_frames` messages (no close frame: the network just goes). Yields
    the proxy's WebSocket URL and the list of connections it served."""
    parts = urlsplit(target)
    listener = socket.create_server(("127.0.0.1", 0))
    served: list[int] = []

    def pipe(source: socket.socket, sink: socket.socket, frames: ServerFrames | None) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if frames is not None and frames.feed(data) >= cut_after_frames:
                    break
        except OSError:
            pass
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((parts.hostname, parts.port))
            served.append(len(served) + 1)
            frames = ServerFrames() if len(served) == 1 else None
            threading.Thread(target=pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client, frames), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}{parts.path}", served
    finally:
        listener.close()


def test_a_dropped_connection_resumes_and_prints_nothing_twice(horizon, local_stack) -> None:
    # Cut after `accepted` and the first output: the rest comes on a resumed connection.
    with dropping_proxy(local_stack.ws_url, cut_after_frames=2) as (proxy_url, served):
        done = horizon(
            "--ws-url",
            proxy_url,
            "task",
            "sh -c 'for i in 1 2 3 4 5; do echo $i; sleep 0.3; done'",
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1\n2\n3\n4\n5\n"
    assert re.search(r"resuming after seq [1-9]", done.stderr), done.stderr
    assert len(served) >= 2
