"""Ending a run: kill every process of its uid, then remove what it left behind.

Runs in a helper process (forked by the janitor, see janitor.py), which first takes the
run's uid as its effective uid. So it needs no privilege at all: kill(-1) reaches exactly the
processes the run's uid owns (however they detached: new sessions, double forks), and the
removal can only touch what the run itself could have touched. Root never walks, chowns or
follows a link in a tree user code could write.

Its real and saved uids are the run uid's partner (`UidBlock.teardown_uid`), which no process
of the run has: the kernel lets a process signal another only when one of its real or
effective uid is the other's real or saved uid, so the run cannot kill its own teardown (a
daemon looping on kill(-1) would otherwise race it), while the helper, through its effective
uid, still signals the run's processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import stat
import time

from sandbox_task.uids import UidBlock

# The usual world-writable directories of a Linux system. In the plain isolation mode a run
# can write there; its entries are removed so the next run with the same uid finds nothing
# (namespaces mode gives each run private /tmp and /dev/shm and a read-only rest anyway).
# World-writable directories inside them (/tmp/.X11-unix) are cleaned one level deeper.
SHARED_WRITABLE_DIRECTORIES = (
    "/tmp",  # noqa: S108 - cleaned, not used
    "/var/tmp",  # noqa: S108
    "/dev/shm",  # noqa: S108
    "/dev/mqueue",
    "/run/lock",
    "/var/lock",
)
_SHARED_DEPTH = 2
# Subtrees deeper than this are moved up to the scratch root and removed from there, so a
# deliberately deep tree costs neither recursion nor descriptors.
_MAX_DEPTH = 32
_KILL_ROUNDS = 2000
_MAX_ROUNDS = 1000
_OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_IPC_RMID = 0
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def tear_down(uid: int, scratch_root: str) -> bool:
    """Act as the run's uid, kill its processes, remove its files; True if all went well.

    Changes the calling process's credentials for good: call it in a process of its own.
    """
    try:
        # Opened while still root: the scratch root (1733) is not listable by run uids.
        root_fd = os.open(scratch_root, _OPEN_DIRECTORY)
        partner = UidBlock.teardown_uid(uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(partner, uid, partner)
        kill_every_process_of_own_uid(uid)
        remove_owned_entries(root_fd, uid, spill=True)
        remove_shared_leftovers(uid)
        remove_ipc_objects(uid)
    except Exception:  # the server quarantines the uid
        return False
    return True


def kill_every_process_of_own_uid(uid: int) -> None:
    """SIGKILL every process whose real or saved uid is ours, until none is left alive.

    One kill(-1) reaches them all (a fork racing it fails, its parent having a fatal signal
    pending), but a killed process may still finish the system call it is in: the files are
    removed only once /proc shows each of them dead or a zombie. kill(-1) answers ESRCH only
    when it sees no other process at all, so its answer alone cannot tell.
    """
    for _ in range(_KILL_ROUNDS):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        if not _live_processes_of(uid):
            return
        time.sleep(0.001)
    raise RuntimeError(f"processes of uid {uid} survived SIGKILL")


def _live_processes_of(uid: int) -> list[int]:
    """The pids whose real uid is `uid` and that are not zombies, from /proc/<pid>/status."""
    own = str(os.getpid())
    real_uid = f"\nUid:\t{uid}\t".encode()
    alive = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or entry.name == own:
            continue
        try:
            descriptor = os.open(f"/proc/{entry.name}/status", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # gone meanwhile
            continue
        try:
            status = os.read(descriptor, 4096)
        except OSError:
            continue
        finally:
            os.close(descriptor)
        # Searched, not parsed: this runs over every process of the host after each run.
        if real_uid in status and b"\nState:\tZ" not in status:
            alive.append(int(entry.name))
    return alive


def remove_owned_entries(directory_fd: int, uid: int, *, spill: bool) -> None:
    """Remove every entry of the directory that the uid owns, whole trees, following no link.

    In the scratch root that is the run's scratch directory and anything it renamed or
    created next to it. With `spill`, subtrees too deep to walk are moved up here and removed
    in a later round.
    """
    for _ in range(_MAX_ROUNDS):
        owned = []
        for entry in os.scandir(directory_fd):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    owned.append(entry.name)
        if not owned:
            return
        for name in owned:
            _remove_tree(directory_fd, name, spill=spill)
        if not spill:
            return
    raise RuntimeError("the scratch tree could not be removed")


def remove_shared_leftovers(uid: int) -> None:
    """Remove what the uid owns in the world-writable directories (and those within them)."""
    for directory in SHARED_WRITABLE_DIRECTORIES:
        try:
            directory_fd = os.open(directory, _OPEN_DIRECTORY)
        except OSError:
            continue
        try:
            _remove_shared_entries(directory_fd, uid, _SHARED_DEPTH)
        finally:
            os.close(directory_fd)


def remove_ipc_objects(uid: int) -> None:
    """Remove the System V shared memory, queues and semaphores the uid owns or created.

    They outlive processes by design, so a run could leave data there for the next one (the
    plain mode shares the host's IPC namespace). Their owner may always remove them.
    """
    for kind, id_column, remove in (
        ("shm", "shmid", lambda ipc_id: _libc.shmctl(ipc_id, _IPC_RMID, None)),
        ("msg", "msqid", lambda ipc_id: _libc.msgctl(ipc_id, _IPC_RMID, None)),
        ("sem", "semid", lambda ipc_id: _libc.semctl(ipc_id, 0, _IPC_RMID)),
    ):
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                header, *rows = (line.split() for line in table)
        except (OSError, ValueError):
            continue
        columns = {name: index for index, name in enumerate(header)}
        for row in rows:
            if uid in (int(row[columns["uid"]]), int(row[columns["cuid"]])):
                remove(int(row[columns[id_column]]))


def _remove_shared_entries(directory_fd: int, uid: int, depth: int) -> None:
    remove_owned_entries(directory_fd, uid, spill=False)
    if depth <= 1:
        return
    for entry in os.scandir(directory_fd):
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
                inner_fd = os.open(entry.name, _OPEN_DIRECTORY, dir_fd=directory_fd)
                try:
                    _remove_shared_entries(inner_fd, uid, depth - 1)
                finally:
                    os.close(inner_fd)


def _remove_tree(parent_fd: int, name: str, *, spill: bool) -> None:
    """Remove `name` under `parent_fd`, moving subtrees deeper than _MAX_DEPTH up to it.

    Without `spill` nothing is moved and deep subtrees are left in place.
    """
    with contextlib.suppress(OSError):
        _remove_below(parent_fd, name, parent_fd, spill, depth=0)


def _remove_below(
    parent_fd: int,
    name: str,
    top_fd: int,
    spill: bool,
    depth: int,
) -> None:
    try:
        os.unlink(name, dir_fd=parent_fd)
        return
    except FileNotFoundError:
        return
    except IsADirectoryError:
        pass
    if depth >= _MAX_DEPTH:
        if spill:
            # Moving a directory rewrites its "..": it must be writable first.
            os.close(_open_own_directory(parent_fd, name))
            new_name = f"spilled-{os.urandom(12).hex()}"
            os.rename(name, new_name, src_dir_fd=parent_fd, dst_dir_fd=top_fd)
        return
    directory_fd = _open_own_directory(parent_fd, name)
    try:
        for entry in list(os.scandir(directory_fd)):
            _remove_below(directory_fd, entry.name, top_fd, spill, depth + 1)
    finally:
        os.close(directory_fd)
    os.rmdir(name, dir_fd=parent_fd)


def _open_own_directory(parent_fd: int, name: str) -> int:
    """Open a directory of ours for listing, first giving ourselves the rights the run took.

    O_PATH needs no permission on the directory; chmod through /proc/self/fd then works on
    exactly that inode, never on whatever a path might point to.
    """
    path_fd = os.open(
        name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd
    )
    try:
        mode = os.stat(path_fd).st_mode
        if stat.S_IMODE(mode) & 0o700 != 0o700:
            os.chmod(f"/proc/self/fd/{path_fd}", 0o700)
        return os.open(".", _OPEN_DIRECTORY, dir_fd=path_fd)
    finally:
        os.close(path_fd)
