"""What keeps a task's steps away from the credentials of the process that runs them.

Shared by the agent's task process (Fargate) and the batch worker (Lambda): a step gets a clean
environment, and the runner's own /proc entries are closed to it.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import horizon

# What a step's process may see: no AWS credentials, no platform configuration.
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def deny_inspection() -> bool:
    """Make this process non-dumpable: its /proc/<pid>/environ, mem and ptrace are refused.

    The steps run with the task process's uid, and the task process's environment holds
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (the key to the task role's credentials). A
    non-dumpable process's /proc entries belong to root and ptrace-like access needs
    CAP_SYS_PTRACE, which the container's user does not have. The flag survives fork but
    not exec, so the steps themselves stay ordinary processes.

    Returns:
        Whether the flag was set (False off Linux, or when prctl is unavailable).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def step_env(scratch: Path) -> dict[str, str]:
    """Return the environment of a step: a clean one, without credentials."""
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        {
            "HOME": str(scratch),
            "TMPDIR": str(scratch),
            "TERM": "dumb",
            "GIT_TERMINAL_PROMPT": "0",
            "PYTHONUNBUFFERED": "1",
            # The word counter is a module of this library.
            "PYTHONPATH": str(Path(horizon.__file__).resolve().parent.parent),
        }
    )
    return env
