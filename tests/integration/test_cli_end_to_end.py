"""The real `horizon` command, as a subprocess, against the local stack (`local_stack`):
an upload with its counts, tasks and their exit codes, a batch, an execution, a refused key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
