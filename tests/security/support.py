"""Helpers of the security suite: running a hostile program and looking at what it left behind.

Every hostile program is prefixed with a line that renames its process (prctl PR_SET_NAME) to
a tag unique to the test. Children inherit the name across fork, so after the run the test can
find, from the host's /proc, any process the run left behind, whatever its pid namespace or uid.
"""

from __future__ import annotations

import os
import secrets
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox_task.client import Sandbox
from sandbox_task.contract import RunLimits, RunRequest, RunResult

# Short limits keep the suite fast: nothing here needs more than a second or two.
SHORT_LIMITS = RunLimits(
    timeout_s=2.0,
    memory_mb=256,
    output_bytes=64 * 1024,
    processes=16,
    file_bytes=1024 * 1024,
    open_files=64,
)


@dataclass
class Runner:
    """A started sandbox, the directory its runs' scratch lives in, and the test's tag."""

    sandbox: Sandbox
    mode: str  # the isolation in effect: "plain" or "namespaces"
    scratch_root: Path
    tag: str = field(default_factory=lambda: "hz" + secrets.token_hex(5))

    def run(self, code: str, *, stdin: str = "", **limits: float) -> RunResult:
        """Run `code` (dedented, tagged) with SHORT_LIMITS overridden by `limits`."""
        merged = {**SHORT_LIMITS.__dict__, **limits}
        request = RunRequest(
            run_id=f"{self.tag}-{secrets.token_hex(4)}",
            code=tag_prelude(self.tag) + textwrap.dedent(code),
            stdin=stdin,
            limits=RunLimits(**merged),
        )
        return self.sandbox.run(request)


def tag_prelude(tag: str) -> str:
    """One line that names the run's process `tag` (PR_SET_NAME = 15), inherited by children."""
    return f"import ctypes as _c; _c.CDLL(None).prctl(15, b{tag!r}, 0, 0, 0); del _c\n"


def live_processes_named(tag: str) -> list[str]:
    """'pid state' of every process on the host whose name is `tag`, zombies excluded.

    A zombie has already released everything; only its exit status waits for a reaper.
    """
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ...": comm may hold spaces and parentheses, so split at the last ')'
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state = stat[stat.rindex(")") + 2]
        if name == tag and state not in "ZX":
            found.append(f"{entry.name} {state}")
    return found


def descendants_named(fragment: str) -> list[int]:
    """Pids of this process's descendants whose command line contains `fragment`."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [os.getpid()]
    while pending:
        pid = pending.pop()
        for child in children.get(pid, []):
            pending.append(child)
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if fragment.encode() in cmdline:
                found.append(child)
    return found


def entries(directory: Path) -> list[str]:
    """Names in `directory` (root sees them all), [] when it does not exist."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


def live_processes_of_uids(uids: range) -> list[str]:
    """'pid uid state' of every live (non-zombie) process whose real uid is in `uids`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields["Uid"].split()[0])
        state = fields["State"].strip()[:1]
        if uid in uids and state not in "ZX":
            found.append(f"{entry.name} {uid} {state}")
    return found


def wait_for_scratch_holding(scratch_root: Path, name: str) -> Path:
    """The scratch directory of a run in flight once `name` exists in it (5 s at most).

    How a test meets a run half-way: the run creates `name`, then waits for `release`.
    """
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        for entry in entries(scratch_root):
            if (scratch_root / entry / name).exists():
                return scratch_root / entry
        time.sleep(0.005)
    raise AssertionError(f"no scratch directory got {name}")


def release_waiting_runs(scratch_root: Path) -> None:
    """Create `release` in every scratch directory a run wrote to (root may write there; the
    runs cannot). The child waiting for the next run has an empty one, left as it is."""
    for entry in entries(scratch_root):
        if entries(scratch_root / entry):
            (scratch_root / entry / "release").touch()
