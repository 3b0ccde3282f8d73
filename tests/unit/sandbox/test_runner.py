"""The runner end to end: client, fork server and run child, in every isolation mode here."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from sandbox_task.client import Sandbox
from sandbox_task.contract import RunRequest, SandboxError

from .conftest import PLANTED_SECRETS, RunCode, needs_root, processes_of

pytestmark = needs_root

PANDAS_SNIPPET = """\
import pandas as pd
df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.5, 6.5]})
print(df["b"].mean())
"""

DAEMON = """\
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(0.01)
    os._exit(0)
print(os.getuid(), flush=True)
"""


def test_the_pandas_snippet_runs(run: RunCode) -> None:
    result = run(PANDAS_SNIPPET)

    assert result.status == "COMPLETED"
    assert result.stdout == "5.333333333333333\n"
    assert (result.stderr, result.exit_code, result.error, result.truncated) == ("", 0, None, False)
    assert result.execution_time_ms >= 0


def test_stdin_reaches_the_code(run: RunCode) -> None:
    result = run("import sys\nprint(sys.stdin.read().upper(), end='')", stdin="héllo\nworld\n")

    assert result.stdout == "HÉLLO\nWORLD\n"


@pytest.mark.parametrize(
    ("code", "status", "exit_code", "error", "stderr"),
    [
        ("import sys; sys.exit(0)", "COMPLETED", 0, None, ""),
        ("import sys; sys.exit(3)", "FAILED", 3, "exited with status 3", ""),
        ("import sys; sys.exit('bye')", "FAILED", 1, "exited with status 1", "bye\n"),
        ("import os; os._exit(7)", "FAILED", 7, "exited with status 7", ""),
        ("import ctypes; ctypes.string_at(0)", "FAILED", None, "killed by signal 11", ""),
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
            "FAILED",
            None,
            "killed by signal 15",
            "",
        ),
    ],
)
def test_exit_statuses(run: RunCode, code, status, exit_code, error, stderr) -> None:
    result = run(code)

    assert (result.status, result.exit_code, result.error, result.stderr) == (
        status,
        exit_code,
        error,
        stderr,
    )


def test_an_uncaught_exception_shows_only_the_users_traceback(run: RunCode) -> None:
    result = run("def divide(n):\n    return n / 0\n\ndivide(1)\n")

    assert result.status == "FAILED"
    assert result.exit_code == 1
    assert result.error == "the program raised ZeroDivisionError"
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert 'File "<code>", line 4, in <module>' in result.stderr
    assert "return n / 0" in result.stderr
    assert result.stderr.endswith("ZeroDivisionError: division by zero\n")
    assert "sandbox_task" not in result.stderr


def test_a_syntax_error_is_reported_as_such(run: RunCode) -> None:
    result = run("print(")

    assert result.error == "the program raised SyntaxError"
    assert "sandbox_task" not in result.stderr


def test_exceeding_the_memory_limit(run: RunCode) -> None:
    result = run("block = bytearray(400 * 1024 * 1024)", memory_mb=100)

    assert result.status == "FAILED"
    assert result.error == "memory limit exceeded"
    assert "MemoryError" in result.stderr


def test_numpy_running_out_of_memory_is_a_memory_error(run: RunCode) -> None:
    result = run("import numpy\nnumpy.ones(10**9)", memory_mb=100)

    assert (result.status, result.error) == ("FAILED", "memory limit exceeded")


def test_printing_a_verdict_does_not_change_it(run: RunCode) -> None:
    result = run('print("MemoryError", "time limit exceeded"); raise SystemExit(2)')

    assert result.error == "exited with status 2"


def test_the_wall_clock_limit_kills_the_run(run: RunCode) -> None:
    result = run("import time\nprint('started', flush=True)\ntime.sleep(60)", timeout_s=0.5)

    assert result.status == "TIMEOUT"
    assert result.error == "time limit exceeded (0.5 s)"
    assert result.exit_code is None
    assert result.stdout == "started\n"


def test_a_busy_loop_ends_in_timeout(run: RunCode) -> None:
    # The wall clock or RLIMIT_CPU, whichever fires first (test_outcome covers SIGXCPU).
    result = run("while True:\n    pass", timeout_s=1)

    assert result.status == "TIMEOUT"
    assert result.error == "time limit exceeded (1 s)"


def test_a_double_forked_daemon_is_gone_after_the_run(run: RunCode) -> None:
    result = run(DAEMON)

    assert result.status == "COMPLETED"
    assert processes_of([int(result.stdout)]) == []


def test_a_timeout_kills_every_process_the_run_started(run: RunCode) -> None:
    result = run(DAEMON + "import time\ntime.sleep(60)\n", timeout_s=0.5)

    assert result.status == "TIMEOUT"
    assert processes_of([int(result.stdout)]) == []


def test_a_daemon_that_kills_everything_it_can_cannot_stop_the_teardown(run: RunCode) -> None:
    code = """\
import os, signal
print(os.getuid(), flush=True)
if os.fork() == 0:
    os.setsid()
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
"""
    uid = int(run(code).stdout)

    assert processes_of([uid]) == []
    assert run("print('next')").stdout == "next\n"


def test_a_deadline_that_passes_during_the_set_up_still_ends_the_run(
    sandbox: Sandbox, run: RunCode
) -> None:
    # 1 ms is over before the child has dropped root, where the uid sweep cannot see it:
    # the server kills its child itself, so none of these is left running.
    for _ in range(10):
        result = run("import time\ntime.sleep(1000)", timeout_s=0.001)

        assert result.status == "TIMEOUT"
    assert processes_of(sandbox.uid_range, zombies=False) == []


def test_a_large_stdin_does_not_deadlock_against_output_printed_first(run: RunCode) -> None:
    # The run fills its stdout pipe before reading stdin: both must flow at once.
    code = "import sys\nprint('o' * 1_000_000, flush=True)\nprint(len(sys.stdin.read()))"
    result = run(code, stdin="i" * 3_000_000, output_bytes=2_000_000)

    assert result.status == "COMPLETED"
    assert result.stdout.splitlines() == ["o" * 1_000_000, "3000000"]


def test_stdin_the_run_never_reads_is_dropped(run: RunCode) -> None:
    result = run("print('ignored stdin')", stdin="x" * 1_000_000)

    assert (result.status, result.stdout) == ("COMPLETED", "ignored stdin\n")


def test_the_run_is_the_out_of_memory_killers_first_choice(run: RunCode) -> None:
    result = run("print(open('/proc/self/oom_score_adj').read().strip())")

    assert result.stdout == "1000\n"


def test_a_very_deep_traceback_shows_its_first_and_last_frames_only(run: RunCode) -> None:
    code = """\
import sys
sys.setrecursionlimit(10**6)
def down(n):
    return down(n + 1)
down(0)
"""
    result = run(code, timeout_s=30, memory_mb=1024)

    assert (result.status, result.error) == ("FAILED", "the program raised RecursionError")
    assert "frames omitted ...]" in result.stderr
    assert result.stderr.count("line 4, in down") <= 40
    assert result.stderr.endswith("RecursionError: maximum recursion depth exceeded\n")


def test_output_past_the_cap_is_dropped_and_flagged(run: RunCode) -> None:
    result = run(
        "import sys\nprint('o' * 300_000)\nsys.stderr.write('e' * 5000)", output_bytes=1000
    )

    assert result.status == "COMPLETED"
    assert (result.stdout, result.stderr) == ("o" * 1000, "e" * 1000)
    assert result.truncated is True


def test_output_that_never_ends_still_returns_a_result(run: RunCode) -> None:
    result = run("while True:\n    print('x' * 10_000)", output_bytes=100, timeout_s=0.5)

    assert result.status == "TIMEOUT"
    assert result.stdout == "x" * 100
    assert result.truncated is True


def test_invalid_utf8_is_replaced_and_nul_bytes_are_kept(run: RunCode) -> None:
    result = run(
        r"import sys; sys.stdout.buffer.write(b'a\xff\x00b'); sys.stderr.buffer.write(b'\xc3')"
    )

    assert result.stdout == "a\ufffd\x00b"
    assert result.stderr == "\ufffd"


def test_runs_proceed_concurrently(sandbox: Sandbox) -> None:
    # Each run reports when it started and ended; all four were running at the same moment.
    code = "import os, time\nstart = time.time()\ntime.sleep(0.5)\nprint(start, time.time(), os.getuid())"
    results = []

    def one_run() -> None:
        results.append(sandbox.run(RunRequest(run_id="c", code=code)))

    threads = [threading.Thread(target=one_run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [result.status for result in results] == ["COMPLETED"] * 4
    spans = [tuple(map(float, result.stdout.split())) for result in results]
    assert max(start for start, _, _ in spans) < min(end for _, end, _ in spans)
    assert len({uid for _, _, uid in spans}) == 4


def test_the_scratch_directory_is_private_off_sys_path_and_removed(run: RunCode) -> None:
    code = """\
import json, os, stat, sys
open("shadow.py", "w").write("print('imported from scratch')")
try:
    import shadow
    imported = True
except ImportError:
    imported = False
info = os.stat(".")
import tempfile
with tempfile.NamedTemporaryFile() as temporary:
    in_home = os.path.dirname(temporary.name) == os.environ["HOME"] == os.getcwd()
print(json.dumps({"cwd": os.getcwd(), "path": sys.path, "imported": imported, "in_home": in_home,
                  "same": os.path.samefile(os.getcwd(), os.environ["HOME"]),
                  "mode": stat.S_IMODE(info.st_mode), "owner": info.st_uid, "uid": os.getuid()}))
"""
    report = json.loads(run(code).stdout)

    assert report["imported"] is False
    assert report["in_home"] is True
    assert report["same"] is True
    assert report["cwd"] not in report["path"]
    assert "" not in report["path"]
    assert (report["mode"], report["owner"]) == (0o700, report["uid"])
    assert not os.path.exists(report["cwd"])


def test_standard_modules_that_are_not_preloaded_can_be_imported(run: RunCode) -> None:
    # Even where the interpreter lives in a directory run uids cannot search (/root/.pyenv).
    result = run("import xml.dom.minidom, sqlite3, tomllib, zoneinfo\nprint('imported')")

    assert (result.status, result.stdout) == ("COMPLETED", "imported\n")


def test_the_environment_is_empty_and_holds_no_secret(run: RunCode) -> None:
    code = """\
import json, os
print(json.dumps({"environ": dict(os.environ),
                  "block": open("/proc/self/environ", "rb").read().decode(errors="replace")}))
"""
    report = json.loads(run(code).stdout)

    assert set(report["environ"]) <= {"HOME", "TMPDIR"}
    for secret in (*PLANTED_SECRETS, *PLANTED_SECRETS.values()):
        assert secret not in report["block"]
        assert secret not in json.dumps(report["environ"])


def test_the_limits_are_set_as_asked(sandbox: Sandbox, run: RunCode) -> None:
    code = """\
import resource
for name in ("NPROC", "FSIZE", "NOFILE", "CORE"):
    print(name, resource.getrlimit(getattr(resource, "RLIMIT_" + name)))
"""
    result = run(code, processes=7, file_bytes=12345, open_files=40)

    # Namespaces mode counts its relay and init processes on top.
    nproc = 7 if sandbox.isolation_in_effect == "plain" else 9
    assert result.stdout.splitlines() == [
        f"NPROC ({nproc}, {nproc})",
        "FSIZE (12345, 12345)",
        "NOFILE (40, 40)",
        "CORE (0, 0)",
    ]


def test_files_outside_scratch_do_not_outlive_the_run(run: RunCode) -> None:
    name = f"sandbox-left-behind-{os.getpid()}"
    result = run(f"open('/tmp/{name}', 'w').write('x')\nopen('/dev/shm/{name}', 'w').write('x')")

    assert result.status == "COMPLETED"
    assert not os.path.exists(f"/tmp/{name}")
    assert not os.path.exists(f"/dev/shm/{name}")


def test_cleanup_follows_no_link_out_of_scratch(run: RunCode, tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("root's file")
    os.chmod(tmp_path, 0o755)
    os.chmod(victim, 0o755)

    result = run(
        f"import os\nos.symlink({str(victim)!r}, 'link')\nos.symlink({str(victim / 'keep')!r}, 'file')"
    )

    assert result.status == "COMPLETED"
    assert (victim / "keep").read_text() == "root's file"


def test_the_sandbox_survives_a_run_that_kills_its_parent(run: RunCode) -> None:
    run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    run("import os, signal\nos.kill(-1, signal.SIGKILL)")

    assert run("print('still here')").stdout == "still here\n"


def test_a_crashed_server_fails_the_run_in_flight_then_restarts(sandbox: Sandbox) -> None:
    uids = sandbox.uid_range
    outcome: list[object] = []
    started = threading.Event()

    def doomed_run() -> None:
        started.set()
        try:
            outcome.append(
                sandbox.run(RunRequest(run_id="d", code=DAEMON + "import time\ntime.sleep(60)"))
            )
        except SandboxError as error:
            outcome.append(error)

    thread = threading.Thread(target=doomed_run)
    thread.start()
    started.wait()
    _wait_for_a_process_of(uids)
    os.kill(sandbox.server_pid, 9)
    thread.join()

    assert isinstance(outcome[0], SandboxError)
    assert sandbox.run(RunRequest(run_id="after", code="print('back')")).stdout == "back\n"
    # The new server killed what the dead one's runs left before serving (the daemon loops
    # forever, so it would still be there); the "after" run's own process may take a moment
    # to go on a loaded machine.
    assert _processes_left(uids, within_s=5) == []


def _processes_left(uids: range, within_s: float) -> list[str]:
    deadline = time.monotonic() + within_s
    while (left := processes_of(uids, zombies=False)) and time.monotonic() < deadline:
        threading.Event().wait(0.05)
    return left


def _wait_for_a_process_of(uids: range) -> None:
    # Polls /proc: there is no event to wait on for a process of another tree to appear.
    for _ in range(10_000):
        if processes_of(uids):
            return
        threading.Event().wait(0.001)
    raise AssertionError("the run never started")


def test_namespaces_give_the_run_its_own_pid_and_network(sandbox: Sandbox, run: RunCode) -> None:
    if sandbox.isolation_in_effect != "namespaces":
        pytest.skip("only in namespaces mode")
    code = """\
import os
print(os.getpid(), os.getuid() == int(open("/proc/self/uid_map").read().split()[0]))
print(sorted(line.split(":")[0].strip() for line in open("/proc/self/net/dev").readlines()[2:]))
"""
    result = run(code)

    assert result.stdout.splitlines() == ["2 True", "['lo']"]


def test_namespaces_mode_without_bubblewrap_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr("sandbox_task.client.shutil.which", lambda _: None)
    box = Sandbox(isolation="namespaces")

    with pytest.raises(SandboxError, match="bubblewrap"):
        box.start()
    box.close()


@pytest.mark.parametrize("bwrap", [None, "/bin/false"], ids=["missing", "broken"])
def test_auto_falls_back_to_plain_when_bubblewrap_cannot_work(monkeypatch, bwrap) -> None:
    monkeypatch.setattr("sandbox_task.client.shutil.which", lambda _: bwrap)

    with Sandbox(isolation="auto") as box:
        assert box.isolation_in_effect == "plain"
        assert box.run(RunRequest(run_id="a", code="print(2 + 2)")).stdout == "4\n"
