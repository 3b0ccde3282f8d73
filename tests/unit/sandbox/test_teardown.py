"""The teardown of a run's uid (teardown.py): success only when nothing of the uid is left.

The removal itself is tested in test_removal.py; here, `tear_down` as a whole, as the janitor
and the server's start-up sweep call it, in forked children (it changes credentials for good).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_task import teardown
from sandbox_task.janitor import Janitor, TeardownReport
from sandbox_task.preparation import sweep_uids

from .conftest import needs_root
from .runtrees import NOT_A_RUN_UID, RUN_A, RUN_B, in_child, scratch_root_like_the_servers

pytestmark = needs_root


@pytest.fixture
def scratch_root() -> Iterator[Path]:
    with scratch_root_like_the_servers() as root:
        yield root


def tear_down_in_child(uid: int, root: Path) -> bool:
    pid = os.fork()
    if pid == 0:
        os._exit(0 if teardown.tear_down(uid, str(root)) else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def build_scratch(root: Path, name: str, *, depth: int = 3) -> None:
    def build() -> None:
        path = root / name / "/".join(["d"] * depth)
        path.mkdir(parents=True)
        (path / "file").write_text("x")

    assert in_child(RUN_A if name.startswith("a-") else RUN_B, build) == 0


def test_only_the_uids_entries_are_removed(scratch_root: Path) -> None:
    build_scratch(scratch_root, "a-run")
    build_scratch(scratch_root, "a-renamed")
    build_scratch(scratch_root, "b-run")

    assert tear_down_in_child(RUN_A, scratch_root)

    assert os.listdir(scratch_root) == ["b-run"]


def test_a_deep_tree_in_a_shared_directory_is_removed_entirely() -> None:
    # /var/tmp is one of the world-writable directories a plain-mode run can write to.
    name = "hz-teardown-" + secrets.token_hex(6)
    depth = 200  # far deeper than the 32 levels the shared directories were once walked

    def build() -> None:
        path = Path("/var/tmp", name, *["d"] * depth)
        path.mkdir(parents=True)
        (path / "secret").write_text("left by the run")

    assert in_child(RUN_A, build) == 0
    empty_root = Path("/var/tmp", name + "-root")
    empty_root.mkdir()
    try:
        assert tear_down_in_child(RUN_A, empty_root)
        assert not os.path.lexists(f"/var/tmp/{name}")
    finally:
        empty_root.rmdir()


def test_a_uid_with_something_it_cannot_remove_is_reported_failed(scratch_root: Path) -> None:
    build_scratch(scratch_root, "a-run")
    foreign = scratch_root / "a-run" / "d" / "foreign"
    foreign.mkdir()
    (foreign / "file").write_text("not a run's")
    os.chown(foreign, NOT_A_RUN_UID, NOT_A_RUN_UID)

    assert not tear_down_in_child(RUN_A, scratch_root)

    assert foreign.is_dir()


def test_the_start_up_sweep_skips_a_uid_it_cannot_clear(scratch_root: Path) -> None:
    build_scratch(scratch_root, "a-run")
    foreign = scratch_root / "a-run" / "foreign"
    foreign.mkdir()
    (foreign / "file").write_text("not a run's")
    os.chown(foreign, NOT_A_RUN_UID, NOT_A_RUN_UID)

    cleared = sweep_uids(RUN_A, 2, str(scratch_root))

    assert cleared == [RUN_A + 1, RUN_A + 2]


def test_the_janitor_reports_the_processes_dead_before_the_files_are_removed(
    scratch_root: Path,
) -> None:
    build_scratch(scratch_root, "a-run")
    janitor = Janitor.start(str(scratch_root), report_dead=True)
    try:
        janitor.request(RUN_A)
        reports = [janitor.receive_report(), janitor.receive_report()]
    finally:
        janitor.socket.close()
        os.waitpid(janitor.pid, 0)

    assert reports == [
        TeardownReport(RUN_A, "dead", succeeded=True),
        TeardownReport(RUN_A, "done", succeeded=True),
    ]
    assert os.listdir(scratch_root) == []
