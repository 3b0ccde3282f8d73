"""Ending a run: kill every process of its uid, then remove what it left behind.

Runs in a helper process (forked by the janitor, see janitor.py), which first takes the
run's uid as its effective uid. So it needs no privilege at all: kill(-1) reaches exactly the
processes the run's uid owns (however they detached: new sessions, double forks), and the
removal can only touch what the run itself could have touched. Root never walks, chowns or
follows a link in a tree user code could write.

Its real uid is the run uid's partner (`UidBlock.teardown_uid`) and its saved uid root, ids
no process of the run has: the kernel lets a process signal another only when one of its real
or effective uid is the other's real or saved uid, so the run cannot kill its own teardown (a
daemon looping on kill(-1) would otherwise race it), while the helper, through its effective
uid, still signals the run's processes. The saved root lets the removal switch its effective
uid to another run uid whose directories were planted in this run's tree (removal.Identity);
no capability is effective meanwhile.

Success is reported only after a last look finds nothing of the uid left where it looks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import stat
import sys
import time
from collections.abc import Callable

from sandbox_task.removal import Identity, RemovalError, remove_tree
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
_KILL_ROUNDS = 2000
# Removal passes over one directory: the last one only checks that nothing is left (nothing
# of the uid can appear meanwhile: its processes are dead).
_PASSES = 3
_OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_IPC_RMID = 0
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def tear_down(
    uid: int, scratch_root: str, on_processes_dead: Callable[[], object] | None = None
) -> bool:
    """Act as the run's uid, kill its processes, remove its files; True if all went well.

    Changes the calling process's credentials for good: call it in a process of its own.
    `on_processes_dead` is called once no process of the uid is left, before any removal.
    A failure is reported on stderr (the server's log) with its reason.
    """
    try:
        # Opened while still root: the scratch root (1733) is not listable by run uids.
        root_fd = os.open(scratch_root, _OPEN_DIRECTORY)
        partner = UidBlock.teardown_uid(uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(partner, uid, 0)
        kill_every_process_of_own_uid(uid)
        if on_processes_dead is not None:
            on_processes_dead()
        identity = Identity(uid, may_act_as=UidBlock.is_run_uid)
        remove_owned_entries(root_fd, identity)
        remove_shared_leftovers(identity)
        remove_ipc_objects(uid)
    except Exception as error:  # the server quarantines the uid
        print(f"sandbox: teardown of uid {uid} failed: {error!r}", file=sys.stderr)
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


def remove_owned_entries(directory_fd: int, identity: Identity) -> None:
    """Remove every entry of the directory that the identity's uid owns, whole trees.

    In the scratch root that is the run's scratch directory and anything it renamed or
    created next to it. Returns only once a listing shows none left.

    Raises:
        RemovalError: some could not be removed (the rest were).
    """
    owned, _ = _scan(directory_fd, identity.home)
    _remove_until_none_left(directory_fd, identity, owned)


def remove_shared_leftovers(identity: Identity) -> None:
    """Remove what the uid owns in the world-writable directories (and those within them).

    Raises:
        RemovalError: some could not be removed.
    """
    for directory in SHARED_WRITABLE_DIRECTORIES:
        try:
            directory_fd = os.open(directory, _OPEN_DIRECTORY)
        except OSError:
            continue
        try:
            _remove_shared_entries(directory_fd, identity, _SHARED_DEPTH)
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


def _remove_shared_entries(directory_fd: int, identity: Identity, depth: int) -> None:
    owned, open_subdirectories = _scan(directory_fd, identity.home)
    _remove_until_none_left(directory_fd, identity, owned)
    if depth <= 1:
        return
    for name in open_subdirectories:
        try:
            inner_fd = os.open(name, _OPEN_DIRECTORY, dir_fd=directory_fd)
        except OSError:
            continue
        try:
            _remove_shared_entries(inner_fd, identity, depth - 1)
        finally:
            os.close(inner_fd)


def _remove_until_none_left(directory_fd: int, identity: Identity, owned: list[str]) -> None:
    """Remove the trees `owned` names, then list again until none of the uid's is left."""
    for _ in range(_PASSES):
        if not owned:
            return
        failures = []
        for name in owned:
            try:
                remove_tree(directory_fd, name, identity)
            except RemovalError as error:
                failures.append(f"{name}: {error}")
        if failures:
            raise RemovalError("; ".join(failures[:3]))
        owned, _ = _scan(directory_fd, identity.home)
    raise RemovalError(f"entries of uid {identity.home} are still there")


def _scan(directory_fd: int, uid: int) -> tuple[list[str], list[str]]:
    """The directory's entries `uid` owns, and its world-writable subdirectories of others.

    One lstat per entry (links themselves, never their targets).
    """
    owned, open_subdirectories = [], []
    for entry in os.scandir(directory_fd):
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:  # gone meanwhile
            continue
        if info.st_uid == uid:
            owned.append(entry.name)
        elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
            open_subdirectories.append(entry.name)
    return owned, open_subdirectories
