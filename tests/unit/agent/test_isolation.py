"""Steps cannot read the task process's environment (where ECS puts the credentials' URI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from horizon.agent.task import deny_inspection

SECRET = "/v2/credentials/secret-task-role"
# The task process in miniature: maybe non-dumpable, then one step, as task.py runs it.
RUNNER = """
import subprocess, sys
from pathlib import Path
from horizon.agent.task import deny_inspection, step_env
if sys.argv[1] == "deny":
    assert deny_inspection()
step = subprocess.run(
    ["/bin/sh", "-c", "cat /proc/$PPID/environ; echo ' read='$?; env"],
    env=step_env(Path(sys.argv[2])), capture_output=True, text=True,
)
print(step.stdout + step.stderr)
"""


def _run(mode: str, scratch: Path) -> str:
    argv = [sys.executable, "-c", RUNNER, mode, str(scratch)]
    if os.geteuid() == 0:
        # Root's CAP_SYS_PTRACE reads anything; the container's user has no capabilities.
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop capabilities")
        argv = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", *argv]
    env = {
        **os.environ,
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": SECRET,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_a_step_cannot_read_a_non_dumpable_runners_environment(tmp_path: Path) -> None:
    denied = _run("deny", tmp_path)
    assert SECRET not in denied
    assert "read=1" in denied and "Permission denied" in denied
    assert "HOME=" in denied and "AWS_" not in denied  # the step's own env: no AWS_ at all
    # The control: the same step reads a dumpable runner's environment.
    assert SECRET in _run("allow", tmp_path)


def test_deny_inspection_is_a_no_op_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert deny_inspection() is False
