"""How the client starts the fork server: its command line and its (scrubbed) environment."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from sandbox_task.preparation import THREAD_VARIABLES

SERVER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def server_command(
    *,
    python: str,
    control_fd: int,
    scratch_root: str,
    uid_base: int,
    slots: int,
    bwrap: str | None,
) -> list[str]:
    """The server's command line; inside bubblewrap (namespaces mode) when `bwrap` is given.

    `-P` keeps the start directory off sys.path, `-s` the user's site directory.
    """
    argv = [
        python,
        "-P",
        "-s",
        "-m",
        "sandbox_task.server",
        "--control-fd",
        str(control_fd),
        "--scratch-root",
        scratch_root,
        "--uid-base",
        str(uid_base),
        "--slots",
        str(slots),
    ]
    if bwrap is None:
        return argv
    return [*bwrap_prefix(bwrap, scratch_root), *argv, "--namespaces"]


def server_environment() -> dict[str, str]:
    """The whole environment of the server process (and so of /proc/<run>/environ).

    Built from nothing: no variable of the worker (AWS credentials, the ECS credentials URI)
    is passed on. The kernel shows a forked child the environ block its process was exec'd
    with, so scrubbing has to happen here, at exec, not later in os.environ.
    """
    return {
        "PATH": SERVER_PATH,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(_import_roots()),
        "PYTHONDONTWRITEBYTECODE": "1",
        **dict.fromkeys(THREAD_VARIABLES, "1"),
    }


def _import_roots() -> list[str]:
    """The directories holding `sandbox_task` and `horizon` (the contract imports it)."""
    roots = [str(Path(__file__).resolve().parent.parent)]
    spec = importlib.util.find_spec("horizon")
    if spec and spec.origin:
        horizon_root = str(Path(spec.origin).resolve().parent.parent)
        if horizon_root not in roots:
            roots.append(horizon_root)
    return roots


def bwrap_prefix(bwrap: str, scratch_root: str) -> list[str]:
    """The bubblewrap command line around the server in namespaces mode.

    The server gets its own network (nothing but a down loopback), ipc, uts and pid
    namespaces, a read-only view of the file system with private /tmp, /dev/shm and /run,
    the scratch root as the only writable place, and no capability but SETUID and SETGID
    (what Fargate leaves it). Each run then adds user, mount, network, ipc, uts and pid
    namespaces of its own (see `sandbox_task.child`).

    /run is hidden because a read-only mount does not stop connect() to a unix socket file:
    the host's sockets live there (Docker's, D-Bus's, databases'), and a private network
    namespace does not cover them.
    """
    return [
        bwrap,
        "--die-with-parent",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",  # noqa: S108 - a private tmpfs inside the sandbox
        "--tmpfs",
        "/dev/shm",  # noqa: S108 - likewise
        "--tmpfs",
        "/run",
        *_var_run(),
        *_mount_point_parents(scratch_root),
        *_kept_under_private_mounts(),
        "--bind",
        scratch_root,
        scratch_root,
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CAP_SETUID",
        "--cap-add",
        "CAP_SETGID",
        "--chdir",
        "/",
        "--",
    ]


PRIVATE_MOUNTS = ("/tmp", "/dev/shm", "/run")  # noqa: S108 - the private tmpfs mounts above


def _var_run() -> list[str]:
    """/var/run hidden too where it is a directory of its own (usually a link to /run)."""
    if os.path.realpath("/var/run") != "/run" and os.path.isdir("/var/run"):
        return ["--tmpfs", "/var/run"]
    return []


def _private_mount_of(path: str) -> str | None:
    return next((m for m in PRIVATE_MOUNTS if os.path.commonpath((m, path)) == m), None)


def _mount_point_parents(path: str) -> list[str]:
    """bwrap options making a path's parents inside a private tmpfs searchable.

    bwrap would create them 0700 (root's), and the run uids must pass through them, as they
    pass through the real ones in plain mode.
    """
    tmpfs = _private_mount_of(path)
    if tmpfs is None:
        return []
    parents = []
    parent = os.path.dirname(path)
    while parent != tmpfs:
        parents.append(parent)
        parent = os.path.dirname(parent)
    options: list[str] = []
    for directory in reversed(parents):
        options += ["--perms", "0755", "--dir", directory]
    return options


def _kept_under_private_mounts() -> list[str]:
    """Read-only binds of what the server needs that lives below /tmp, /dev/shm or /run.

    A checkout (and its virtualenv) under /tmp — a CI runner's clone, say — would otherwise
    vanish under the private tmpfs: the server's code, its imports and its interpreter.
    """
    wanted = {
        os.path.realpath(path)
        for path in (*_import_roots(), sys.prefix, sys.base_prefix, sys.exec_prefix)
    }
    wanted |= {os.path.dirname(os.path.realpath(sys.executable))}
    kept = sorted(path for path in wanted if _private_mount_of(path) and path not in PRIVATE_MOUNTS)
    # A path inside another kept one comes along with it.
    outermost = [p for p in kept if not any(p != q and p.startswith(q + os.sep) for q in kept)]
    options: list[str] = []
    for path in outermost:
        options += [*_mount_point_parents(path), "--ro-bind", path, path]
    return options
