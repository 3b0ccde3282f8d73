"""uid blocks: one per server, held by a lock only root can take, released with the holder."""

from __future__ import annotations

import os

import pytest

from sandbox_task.contract import SandboxError
from sandbox_task.uids import FIRST_UID, UidBlock, claim_uid_block


def test_blocks_held_at_once_are_distinct_and_released_ones_are_reused(tmp_path) -> None:
    first = claim_uid_block(str(tmp_path / "locks"))
    second = claim_uid_block(str(tmp_path / "locks"))
    assert (first.base, second.base) == (FIRST_UID, FIRST_UID + UidBlock.SIZE)

    first.release()
    third = claim_uid_block(str(tmp_path / "locks"))

    assert third.base == FIRST_UID
    second.release()
    third.release()


def test_a_lock_directory_others_can_write_is_refused(tmp_path) -> None:
    directory = tmp_path / "locks"
    directory.mkdir()
    os.chmod(directory, 0o777)

    with pytest.raises(SandboxError, match="only this user can write"):
        claim_uid_block(str(directory))


def test_without_a_lock_directory_the_first_block_is_used(tmp_path) -> None:
    (tmp_path / "file").write_text("not a directory")

    block = claim_uid_block(str(tmp_path / "file" / "locks"))

    assert (block.base, block.lock_fd) == (FIRST_UID, None)


def test_the_teardown_partner_is_outside_the_run_uids() -> None:
    assert UidBlock.teardown_uid(FIRST_UID + 3) == FIRST_UID + 3 + UidBlock.RUN_UIDS


def test_run_uids_are_the_first_half_of_every_block_and_nothing_else() -> None:
    second_block = FIRST_UID + UidBlock.SIZE
    assert UidBlock.is_run_uid(FIRST_UID)
    assert UidBlock.is_run_uid(second_block + UidBlock.RUN_UIDS - 1)
    assert not UidBlock.is_run_uid(UidBlock.teardown_uid(second_block))
    assert not UidBlock.is_run_uid(0)
    assert not UidBlock.is_run_uid(FIRST_UID - 1)
    assert not UidBlock.is_run_uid(65534)
