"""Reserving a block of uids for one fork server.

Every run uses a uid of its own, and its teardown kills every process of that uid, so two
servers on one host (the local stack and the tests start several) must never share uids. A
block is held by an flock() on a lock file in a directory only root can write: runs cannot
touch it, and the kernel releases the lock when the holder dies, so a crashed process never
leaks its block. Where no such directory can be made (a read-only root file system: Fargate,
with one server per task) the first block is used unlocked.
"""

from __future__ import annotations

import fcntl
import os
import stat
from dataclasses import dataclass

from sandbox_task.contract import SandboxError

FIRST_UID = 100_000
LOCK_DIRECTORY = "/run/event-horizon-sandbox"
_BLOCKS = 4096


@dataclass
class UidBlock:
    """uids base .. base + SIZE - 1, reserved while `lock_fd` stays open.

    The first half are the runs' uids (one per run in flight); each has a partner in the
    second half, `teardown_uid`, that the run's teardown helper uses as its real uid.
    """

    SIZE = 64
    RUN_UIDS = SIZE // 2

    base: int
    lock_fd: int | None

    @staticmethod
    def teardown_uid(run_uid: int) -> int:
        """The real uid of the helper that tears down `run_uid`'s run."""
        return run_uid + UidBlock.RUN_UIDS

    @staticmethod
    def is_run_uid(uid: int) -> bool:
        """Whether `uid` is a run uid of some block (of any server on this host).

        A run's teardown may act as such a uid to remove what that run planted in its tree.
        """
        offset = uid - FIRST_UID
        return 0 <= offset < _BLOCKS * UidBlock.SIZE and offset % UidBlock.SIZE < UidBlock.RUN_UIDS

    def release(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None


def claim_uid_block(lock_directory: str = LOCK_DIRECTORY) -> UidBlock:
    """Reserve the first free block.

    Raises:
        SandboxError: every block is taken, or the lock directory is not root's alone.
    """
    directory_fd = _open_lock_directory(lock_directory)
    if directory_fd is None:
        return UidBlock(base=FIRST_UID, lock_fd=None)
    try:
        for index in range(_BLOCKS):
            base = FIRST_UID + index * UidBlock.SIZE
            lock_fd = os.open(
                f"uids-{base}.lock",
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=directory_fd,
            )
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock_fd)
                continue
            return UidBlock(base=base, lock_fd=lock_fd)
    finally:
        os.close(directory_fd)
    raise SandboxError("no block of uids is free")


def _open_lock_directory(path: str) -> int | None:
    """Open the lock directory, making it if needed; None where it cannot be made.

    Raises:
        SandboxError: it exists but someone other than us could write it.
    """
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:  # e.g. a read-only root file system
        return None
    directory_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    info = os.fstat(directory_fd)
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        os.close(directory_fd)
        raise SandboxError(f"{path} must be a directory only this user can write")
    return directory_fd
