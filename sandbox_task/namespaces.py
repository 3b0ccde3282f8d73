"""Linux namespace, mount and capability calls the run child needs, through ctypes.

Python's os module has no unshare(2), mount(2) or capset(2) (3.12 adds os.unshare, the
image may run 3.11 locally), so they are called from libc directly. Each wrapper raises
OSError with the kernel's errno, like the os module does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
RUN_NAMESPACES = (
    CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWUTS
)

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

_PR_CAPBSET_DROP = 24
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# Generous upper bound: the kernel answers EINVAL for numbers past its last capability.
_MAX_CAPABILITY = 64

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _check(result: int, what: str) -> int:
    if result == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (unshare(2))."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2); `fstype` None for a propagation change."""
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def set_parent_death_signal(signal_number: int) -> None:
    """Have the kernel send `signal_number` to this process when its parent dies."""
    _check(_libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal_number), 0, 0, 0), "prctl")


def become_subreaper() -> None:
    """Have the orphans of this process's descendants reparented to it, to be reaped here."""
    _check(_libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")


def set_dumpable(dumpable: bool = True) -> None:
    """Make the process dumpable again, as it was before its uid changed (or not dumpable).

    A uid change clears the flag, which makes /proc/self root's: the process could then
    neither write its own uid_map nor read its own /proc/self/environ or mem like any
    program. Cores stay off (RLIMIT_CORE 0) and ptrace stays off (seccomp). A process of the
    run's uid that is not the run's own (the init and the relay of namespaces mode) is made
    not dumpable, so that the run's code cannot open its /proc/<pid>/mem.
    """
    _check(_libc.prctl(_PR_SET_DUMPABLE, int(dumpable), 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def map_own_ids(uid: int, gid: int) -> None:
    """Map the (only) uid and gid of a fresh user namespace to themselves.

    An unprivileged process may map just its own ids, and only after denying setgroups(2);
    keeping the same numbers means the run sees the uid the host sees.
    """
    _write_proc("/proc/self/setgroups", "deny")
    _write_proc("/proc/self/uid_map", f"{uid} {uid} 1")
    _write_proc("/proc/self/gid_map", f"{gid} {gid} 1")


def drop_all_capabilities() -> None:
    """Empty the bounding set and the permitted, effective and inheritable sets.

    The creator of a user namespace holds every capability inside it; the run needs none.
    """
    for capability in range(_MAX_CAPABILITY):
        if _libc.prctl(_PR_CAPBSET_DROP, ctypes.c_ulong(capability), 0, 0, 0) == -1:
            if ctypes.get_errno() == 22:  # EINVAL: past the kernel's last capability
                break
            _check(-1, "prctl(PR_CAPBSET_DROP)")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _write_proc(path: str, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY)
    try:
        os.write(descriptor, text.encode())
    finally:
        os.close(descriptor)
