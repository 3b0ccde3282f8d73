"""Removing a run's files: owned entries only, whole trees, never through a link."""

from __future__ import annotations

import os
import tempfile
import traceback

from sandbox_task import teardown

from .conftest import needs_root


@needs_root
def test_only_the_uids_entries_are_removed_and_links_are_not_followed(tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    root = tmp_path / "root"
    root.mkdir()
    scratch = root / "run-1"
    (scratch / "sub").mkdir(parents=True)
    (scratch / "sub" / "file").write_text("x")
    (scratch / "link-to-dir").symlink_to(outside)
    (scratch / "link-to-file").symlink_to(outside / "precious")
    os.chmod(scratch / "sub", 0)
    (root / "other-run").mkdir()
    os.chown(root / "other-run", 4242, 4242)

    descriptor = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        teardown.remove_owned_entries(descriptor, os.getuid(), spill=True)
    finally:
        os.close(descriptor)

    assert sorted(os.listdir(root)) == ["other-run"]
    assert (outside / "precious").read_text() == "keep"


@needs_root
def test_a_deep_unreadable_tree_is_removed_by_its_owner_without_privilege() -> None:
    # In a child that is the tree's owner, not root: the modes then really bind.
    base = tempfile.mkdtemp()
    os.chmod(base, 0o755)
    os.chown(base, UNPRIVILEGED, UNPRIVILEGED)
    pid = os.fork()
    if pid == 0:
        os._exit(_build_and_remove_as(UNPRIVILEGED, base))
    _, status = os.waitpid(pid, 0)
    remaining = os.listdir(base)
    os.rmdir(base)

    assert os.waitstatus_to_exitcode(status) == 0
    assert remaining == []


UNPRIVILEGED = 4243


def _build_and_remove_as(uid: int, base: str) -> int:
    try:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        deep = os.path.join(base, "run")
        for _ in range(100):
            deep = os.path.join(deep, "d")
        os.makedirs(deep)
        with open(os.path.join(deep, "f"), "w") as file:
            file.write("x")
        # Unreadable and unwritable on the way down, as a hostile run leaves it.
        for level in range(100, -1, -1):
            os.chmod(os.path.join(base, "run", *["d"] * level), 0)
        descriptor = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        teardown.remove_owned_entries(descriptor, uid, spill=True)
        return 0
    except BaseException:
        traceback.print_exc()
        return 1
