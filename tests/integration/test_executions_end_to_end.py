"""Code execution through the local stack: real HTTP, the execute queue, the sandbox workers and
the fork server, as `make up` runs them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ROOT, start_local_stack

SNIPPET = (
    "import pandas as pd\n"
    'df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.5, 6.5]})\n'
    'print(df["b"].mean())\n'
)
MEAN = "5.333333333333333\n"
FINISHED = {"COMPLETED", "FAILED", "TIMEOUT"}


def execute(rest_url: str, code: str, **fields: Any) -> httpx.Response:
    return httpx.post(
        f"{rest_url}/execute",
        json={"language": "python", "code": code, **fields},
        timeout=30,
    )


def wait_for_execution(rest_url: str, execution_id: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        body = httpx.get(f"{rest_url}/executions/{execution_id}", timeout=10).json()
        if body["status"] in FINISHED or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_the_pandas_snippet_through_execute(local_stack):
    response = execute(local_stack.rest_url, SNIPPET)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "COMPLETED", body
    assert (body["stdout"], body["stderr"], body["exit_code"], body["error"]) == (
        MEAN,
        "",
        0,
        None,
    )
    assert body["truncated"] is False
    assert body["execution_time_ms"] >= 0
    assert list(body["timestamps"]) == ["QUEUED", "RUNNING", "COMPLETED"]


def test_the_pandas_snippet_through_a_code_session(local_stack):
    rest = local_stack.rest_url
    created = httpx.post(f"{rest}/code-sessions", json={"language": "python"}, timeout=10)
    assert created.status_code == 201
    session = created.json()
    path = f"{rest}/code-sessions/{session['session_id']}"
    # Autosave as someone types: nothing runs until asked.
    for partial in (SNIPPET[:20], SNIPPET[:60], SNIPPET):
        assert httpx.patch(path, json={"source_code": partial}, timeout=10).status_code == 200
    run = httpx.post(f"{path}/run", timeout=10)
    assert run.status_code == 202
    assert run.json()["status"] == "QUEUED"
    body = wait_for_execution(rest, run.json()["execution_id"])
    assert (body["status"], body["stdout"], body["session_id"]) == (
        "COMPLETED",
        MEAN,
        session["session_id"],
    )


@pytest.mark.parametrize(
    ("code", "fields", "status", "error", "in_stderr"),
    [
        ("1/0", {}, "FAILED", "ZeroDivisionError", "ZeroDivisionError: division by zero"),
        ("import sys; sys.exit(3)", {}, "FAILED", "exited with status 3", ""),
        ("while True: pass", {"timeout_s": 1}, "TIMEOUT", "time limit exceeded", ""),
        ("import time; time.sleep(60)", {"timeout_s": 1}, "TIMEOUT", "time limit exceeded", ""),
        (
            "x = bytearray(1024 * 1024 * 1024)",
            {"memory_mb": 64},
            "FAILED",
            "memory limit exceeded",
            "",
        ),
        (
            "import socket; socket.create_connection(('169.254.169.254', 80), timeout=2)",
            {},
            "FAILED",
            "OSError",
            "",
        ),
    ],
)
def test_failures_come_back_as_results_with_a_meaningful_error(
    local_stack, code, fields, status, error, in_stderr
):
    body = execute(local_stack.rest_url, code, **fields).json()
    assert body["status"] == status, body
    assert error in body["error"]
    assert in_stderr in body["stderr"]
    for internal in ("sandbox_task", "fork", "seccomp", "/work/"):
        assert internal not in body["error"]


def test_stdin_and_output_limits(local_stack):
    echoed = execute(local_stack.rest_url, "print(input()[::-1])", stdin="olleh\n").json()
    assert echoed["stdout"] == "hello\n"
    flood = execute(local_stack.rest_url, "print('x' * 1_000_000)", output_bytes=1000).json()
    assert flood["status"] == "COMPLETED"
    assert flood["truncated"] is True
    assert flood["stdout"] == "x" * 1000


def test_executions_are_private_to_their_owner():
    with start_local_stack(API_TOKENS="token-a=tenant-a,token-b=tenant-b") as stack:
        response = httpx.post(
            f"{stack.rest_url}/execute",
            json={"language": "python", "code": "print(1)"},
            headers={"Authorization": "Bearer token-a"},
            timeout=30,
        )
        assert response.json()["stdout"] == "1\n"
        path = f"{stack.rest_url}/executions/{response.json()['execution_id']}"
        assert httpx.get(path, headers={"Authorization": "Bearer token-b"}).status_code == 404
        assert httpx.get(path, headers={"Authorization": "Bearer token-a"}).status_code == 200


def _fork_servers(stack_pid: int) -> list[int]:
    """The fork server processes under the stack (bubblewrap's child, or the server itself)."""
    found = subprocess.run(
        ["pgrep", "-f", "sandbox_task.server"], capture_output=True, text=True, check=False
    )
    pids = [int(pid) for pid in found.stdout.split()]
    return [pid for pid in pids if _descends_from(pid, stack_pid)]


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            return False
    return False


def test_a_sandbox_that_dies_mid_run_is_retried_and_the_execution_completes():
    with start_local_stack(LOCAL_SANDBOX_WORKERS="1") as stack:
        code = "import time\ntime.sleep(1.5)\nprint('finished')\n"
        accepted = httpx.post(
            f"{stack.rest_url}/code-sessions", json={"source_code": code}, timeout=10
        ).json()
        run = httpx.post(
            f"{stack.rest_url}/code-sessions/{accepted['session_id']}/run", timeout=10
        ).json()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = httpx.get(f"{stack.rest_url}/executions/{run['execution_id']}").json()
            if state["status"] == "RUNNING":
                break
            time.sleep(0.02)
        assert state["status"] == "RUNNING"
        servers = _fork_servers(stack.process.pid)
        assert servers, "no fork server found under the stack"
        for pid in servers:  # the server, and its children (same command line) unless gone
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        body = wait_for_execution(stack.rest_url, run["execution_id"], timeout_s=40)
        assert (body["status"], body["stdout"]) == ("COMPLETED", "finished\n"), stack.logs()


def test_the_fargate_entry_point_takes_one_execution_and_exits():
    """`python -m sandbox_task.worker --once`, as each task of the warm pool runs it: plain
    isolation, the queue and table of a running stack, one execution, exit 0."""
    with start_local_stack(LOCAL_SANDBOX_WORKERS="0") as stack:
        session = httpx.post(
            f"{stack.rest_url}/code-sessions", json={"source_code": SNIPPET}, timeout=10
        ).json()
        runs = [
            httpx.post(f"{stack.rest_url}/code-sessions/{session['session_id']}/run").json()
            for _ in range(2)
        ]
        env = {
            **os.environ,
            **stack.env,
            "SANDBOX_ISOLATION": "plain",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers/core/python")]),
        }
        worker = subprocess.run(
            [sys.executable, "-m", "sandbox_task.worker", "--once"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert worker.returncode == 0, worker.stderr[-2000:]
        states = [
            httpx.get(f"{stack.rest_url}/executions/{run['execution_id']}").json() for run in runs
        ]
        assert sorted(state["status"] for state in states) == ["COMPLETED", "QUEUED"]
        done = next(state for state in states if state["status"] == "COMPLETED")
        assert done["stdout"] == MEAN
        assert f"execution {done['execution_id']} is COMPLETED" in worker.stderr + worker.stdout
