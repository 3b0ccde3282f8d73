"""Fixtures of the runner tests: one started Sandbox per isolation mode, shared by a module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

from sandbox_task.client import Sandbox
from sandbox_task.contract import RunLimits, RunRequest, RunResult

# The runner gives each run a uid of its own: it must start as root (CAP_SETUID, CAP_SETGID).
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the runner needs root to switch runs to uids of their own"
)

# Set in the test process before the servers start: a run must never see them.
PLANTED_SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "planted-secret-key-do-not-leak",
    "ECS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/planted-uri-do-not-leak",
}


def isolation_modes() -> list[object]:
    """ "plain" always; "namespaces" only where bubblewrap is installed."""
    return [
        "plain",
        pytest.param(
            "namespaces",
            marks=pytest.mark.skipif(
                shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"
            ),
        ),
    ]


@pytest.fixture(scope="module", params=isolation_modes())
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A started Sandbox in the requested mode, with secrets planted in our environment."""
    saved = {name: os.environ.get(name) for name in PLANTED_SECRETS}
    os.environ.update(PLANTED_SECRETS)
    try:
        box = Sandbox(isolation=request.param, max_concurrent_runs=4)
        box.start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert box.isolation_in_effect == request.param
    yield box
    box.close()


RunCode = Callable[..., RunResult]


@pytest.fixture
def run(sandbox: Sandbox) -> RunCode:
    """Run code in the shared sandbox: run(code, stdin="", **limits)."""

    def run_code(code: str, stdin: str = "", **limits: object) -> RunResult:
        return sandbox.run(
            RunRequest(run_id="test", code=code, stdin=stdin, limits=RunLimits(**limits))
        )

    return run_code


def processes_of(uids: range | list[int], *, zombies: bool = True) -> list[str]:
    """The processes whose real uid is in `uids`, as "pid name state".

    Zombies count unless `zombies` is False: the server reaps the orphans of its runs, but
    the orphans of a server that was killed go to the host's init, which reaps when it likes.
    """
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                fields = dict(
                    line.split(":\t", 1) for line in status.read().splitlines() if ":\t" in line
                )
        except OSError:
            continue
        zombie = fields["State"].startswith("Z")
        if int(fields["Uid"].split()[0]) in uids and (zombies or not zombie):
            found.append(f"{entry} {fields['Name'].strip()} {fields['State'].strip()}")
    return found
