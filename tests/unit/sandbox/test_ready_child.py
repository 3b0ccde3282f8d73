"""The child the fork server prepares ahead of the next run: the run goes to it; one that
dies before its run comes is torn down and replaced."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from sandbox_task.client import Sandbox
from tests.unit.sandbox.conftest import RunCode, needs_root

pytestmark = needs_root


def processes_by_uid(sandbox: Sandbox) -> dict[int, list[int]]:
    """The live (non-zombie) processes of the sandbox's run uids, by uid."""
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            uid = os.stat(f"/proc/{entry}").st_uid
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile
            continue
        if uid in sandbox.uid_range and state != "Z":
            found.setdefault(uid, []).append(int(entry))
    return found


def kill_and_wait(pids: list[int], until: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """SIGKILL `pids`, then wait until `until()` holds."""
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < deadline, "the killed child did not go"
        time.sleep(0.001)


def is_alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def waiting_child(
    sandbox: Sandbox, but: set[int | None], timeout_s: float = 10.0
) -> tuple[int, list[int]]:
    """The uid and pids of the child waiting for the next run, of a uid not in `but` (polls
    until it has dropped to its uid and, in namespaces mode, made its three processes; the
    processes of earlier runs' uids may take a moment to go)."""
    expected = 3 if sandbox.isolation_in_effect == "namespaces" else 1
    deadline = time.monotonic() + timeout_s
    while True:
        found = {uid: pids for uid, pids in processes_by_uid(sandbox).items() if uid not in but}
        if len(found) == 1 and len(next(iter(found.values()))) == expected:
            ((uid, pids),) = found.items()
            return uid, pids
        assert time.monotonic() < deadline, f"no single waiting child: {found}"
        time.sleep(0.01)


def test_the_next_run_goes_to_the_child_waiting_for_it(sandbox: Sandbox, run: RunCode) -> None:
    uid, _ = waiting_child(sandbox, but={run("pass").uid})

    result = run("import os; print(os.getuid())")

    assert (result.status, result.stdout, result.uid) == ("COMPLETED", f"{uid}\n", uid)


def test_a_waiting_child_that_dies_is_replaced_and_its_uid_comes_back(
    sandbox: Sandbox, run: RunCode
) -> None:
    previous = run("pass")
    uid, pids = waiting_child(sandbox, but={previous.uid})
    kill_and_wait(pids, until=lambda: uid not in processes_by_uid(sandbox))
    # Once the server has reaped it (and its teardown killed anything of its uid), another
    # child waits.
    waiting_child(sandbox, but={previous.uid, uid})

    uids = set()
    for _ in range(4 * len(sandbox.uid_range)):
        result = run("import os; print(os.getuid())")
        assert result.status == "COMPLETED", result
        uids.add(result.uid)
        if uid in uids:
            break

    assert uid in uids, "the killed child's uid was not torn down and handed out again"


def test_a_run_sent_right_after_the_waiting_child_died_still_runs(
    sandbox: Sandbox, run: RunCode
) -> None:
    previous = run("pass")
    _, pids = waiting_child(sandbox, but={previous.uid})
    # Dead, perhaps not reaped by the server yet.
    kill_and_wait(pids, until=lambda: not any(is_alive(pid) for pid in pids))

    # At once: the server may not have reaped it yet, and then finds it gone at the handoff.
    result = run("print('ran')")

    assert (result.status, result.stdout) == ("COMPLETED", "ran\n")
