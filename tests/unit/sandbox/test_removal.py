"""Removing a run's trees (removal.py): any depth, any modes, planted directories of other runs.

Each case builds its tree as real run uids in forked children (modes only bind a process that
is not root) and removes it in a forked child that has the teardown helper's credentials: the
run uid as effective uid, root only as saved uid.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_task import removal
from sandbox_task.uids import UidBlock

from .conftest import needs_root
from .runtrees import NOT_A_RUN_UID, RUN_A, RUN_B, in_child, scratch_root_like_the_servers

pytestmark = needs_root


@pytest.fixture
def scratch_root() -> Iterator[Path]:
    with scratch_root_like_the_servers() as root:
        yield root


def remove_as_helper(root: Path, name: str, uid: int) -> int:
    """remove_tree(root, name) with the helper's credentials: 0 when it raised nothing.

    The root is opened while still root, as the helper does (nobody else may list it).
    """
    descriptor = os.open(root, os.O_RDONLY | os.O_DIRECTORY)

    def remove() -> None:
        removal.remove_tree(descriptor, name, removal.Identity(uid, may_act_as=UidBlock.is_run_uid))

    try:
        return in_child(uid, remove, saved_uid=0)
    finally:
        os.close(descriptor)


def test_a_chain_far_deeper_than_the_descriptors_held_is_removed_whatever_its_modes(
    scratch_root: Path,
) -> None:
    depth = 4 * removal._OPEN_DIRECTORIES + 7

    def build() -> None:
        os.chdir(scratch_root)
        os.mkdir("run")
        os.chdir("run")
        for _ in range(depth):
            os.mkdir("d")
            os.chdir("d")
        Path("secret").write_text("x")
        os.symlink("/etc", "link")
        # Closed on the way up, as a hostile run leaves it.
        for _ in range(depth):
            os.chdir("..")
            os.chmod("d", 0)
        os.chmod(".", 0)

    assert in_child(RUN_A, build) == 0

    assert remove_as_helper(scratch_root, "run", RUN_A) == 0
    assert os.listdir(scratch_root) == []


def test_directories_another_run_planted_are_removed_as_that_run(scratch_root: Path) -> None:
    def build() -> None:
        os.chdir(scratch_root)
        os.mkdir("run")
        os.chmod("run", 0o777)

    def plant() -> None:
        planted = scratch_root / "run" / "planted"
        (planted / "inner").mkdir(parents=True)
        (planted / "inner" / "file").write_text("left for the next run")
        (planted / "inner").chmod(0o700)
        planted.chmod(0o755)

    assert in_child(RUN_A, build) == 0
    assert in_child(RUN_B, plant) == 0

    assert remove_as_helper(scratch_root, "run", RUN_A) == 0
    assert os.listdir(scratch_root) == []


def test_a_directory_of_a_user_that_is_no_run_stops_only_its_ancestors(
    scratch_root: Path,
) -> None:
    def build() -> None:
        os.chdir(scratch_root)
        for name in ("run/removable/deep", "run/kept"):
            os.makedirs(name)
        os.chmod("run/kept", 0o777)
        Path("run/file").write_text("x")

    assert in_child(RUN_A, build) == 0
    foreign = scratch_root / "run" / "kept" / "foreign"
    foreign.mkdir()
    (foreign / "file").write_text("not a run's")
    os.chown(foreign, NOT_A_RUN_UID, NOT_A_RUN_UID)
    foreign.chmod(0o700)

    assert remove_as_helper(scratch_root, "run", RUN_A) == 1

    # The rest is gone; the foreign directory and its content are untouched.
    assert os.listdir(scratch_root / "run") == ["kept"]
    assert (foreign / "file").read_text() == "not a run's"


def test_links_are_removed_never_followed(scratch_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    # Open to all: following a link the helper could remove or empty them.
    outside.chmod(0o777)
    (outside / "precious").chmod(0o666)
    (outside / "directory").mkdir()
    (outside / "directory").chmod(0o777)

    def build() -> None:
        scratch = scratch_root / "run"
        (scratch / "sub").mkdir(parents=True)
        (scratch / "link-to-dir").symlink_to(outside)
        (scratch / "sub" / "link-to-file").symlink_to(outside / "precious")
        (scratch / "sub" / "link-to-inner-dir").symlink_to(outside / "directory")

    assert in_child(RUN_A, build) == 0

    assert remove_as_helper(scratch_root, "run", RUN_A) == 0
    assert os.listdir(scratch_root) == []
    assert sorted(os.listdir(outside)) == ["directory", "precious"]
    assert (outside / "precious").read_text() == "keep"


def test_the_identity_never_becomes_a_uid_that_is_no_run_uid() -> None:
    def switch() -> None:
        identity = removal.Identity(RUN_A, may_act_as=UidBlock.is_run_uid)
        identity.become(RUN_B)
        assert os.geteuid() == RUN_B
        identity.go_home()
        assert os.geteuid() == RUN_A
        with pytest.raises(removal.RemovalError):
            identity.become(0)
        with pytest.raises(removal.RemovalError):
            identity.become(NOT_A_RUN_UID)
        assert os.geteuid() == RUN_A

    assert in_child(RUN_A, switch, saved_uid=0) == 0


def test_a_chain_deeper_than_any_former_round_limit_is_removed(scratch_root: Path) -> None:
    # 33,000 levels: past the 1,000 rounds of 32 levels the removal once gave up after.
    depth = 33_000

    def build() -> None:
        os.chdir(scratch_root)
        os.mkdir("run")
        os.chdir("run")
        for _ in range(depth):
            os.mkdir("d")
            os.chdir("d")

    assert in_child(RUN_A, build) == 0

    assert remove_as_helper(scratch_root, "run", RUN_A) == 0
    assert os.listdir(scratch_root) == []
