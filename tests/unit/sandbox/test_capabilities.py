"""The runner as Fargate runs it: root holding only CAP_SETUID and CAP_SETGID, plain isolation."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator

import pytest

from sandbox_task.client import Sandbox
from sandbox_task.contract import RunLimits, RunRequest

from .conftest import processes_of
from .test_runner import DAEMON, PANDAS_SNIPPET

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and util-linux setpriv to drop to two capabilities",
)

CAP_SETGID, CAP_SETUID = 6, 7
ONLY_SETUID_AND_SETGID = (1 << CAP_SETUID) | (1 << CAP_SETGID)


@pytest.fixture(scope="module")
def limited_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A Sandbox whose server is exec'd with a bounding set of SETUID and SETGID only.

    Root's capabilities after execve are its bounding set, so the server holds exactly those
    two, like the Fargate task that drops every other one.
    """
    launcher = tmp_path_factory.mktemp("launcher") / "python"
    launcher.write_text(
        "#!/bin/sh\n"
        f'exec setpriv --bounding-set=-all,+setuid,+setgid --inh-caps=-all -- {sys.executable} "$@"\n'
    )
    launcher.chmod(0o755)
    box = Sandbox(isolation="plain", python=str(launcher))
    box.start()
    yield box
    box.close()


def _capabilities(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as status:
        return {
            name: int(value, 16)
            for name, value in (
                line.split(":\t") for line in status.read().splitlines() if ":\t" in line
            )
            if name in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb")
        }


def test_the_server_holds_only_setuid_and_setgid(limited_sandbox: Sandbox) -> None:
    assert limited_sandbox.server_pid is not None

    assert _capabilities(limited_sandbox.server_pid) == {
        "CapInh": 0,
        "CapPrm": ONLY_SETUID_AND_SETGID,
        "CapEff": ONLY_SETUID_AND_SETGID,
        "CapBnd": ONLY_SETUID_AND_SETGID,
        "CapAmb": 0,
    }


def test_the_pandas_snippet_runs_with_two_capabilities(limited_sandbox: Sandbox) -> None:
    result = limited_sandbox.run(RunRequest(run_id="p", code=PANDAS_SNIPPET))

    assert (result.status, result.stdout) == ("COMPLETED", "5.333333333333333\n")


def test_a_daemon_is_killed_without_cap_kill(limited_sandbox: Sandbox) -> None:
    result = limited_sandbox.run(
        RunRequest(
            run_id="d", code=DAEMON + "import time\ntime.sleep(60)", limits=RunLimits(timeout_s=0.5)
        )
    )

    assert result.status == "TIMEOUT"
    assert processes_of([int(result.stdout)]) == []


def test_the_run_holds_no_capability(limited_sandbox: Sandbox) -> None:
    code = "print(open('/proc/self/status').read())"
    result = limited_sandbox.run(RunRequest(run_id="c", code=code))

    lines = dict(line.split(":\t") for line in result.stdout.splitlines() if ":\t" in line)
    assert int(lines["CapEff"], 16) == int(lines["CapPrm"], 16) == 0
    assert lines["NoNewPrivs"].strip() == "1"
    assert lines["Seccomp"].strip() == "2"
