"""Keeping the interpreter's modules importable by run uids that cannot reach its directories.

Where Python itself lives under a directory other uids cannot search (a pyenv in /root, 0700,
as on the CI machines), a run's uid could import nothing that is not preloaded. The server,
while still root, opens each such import directory with O_PATH and keeps the descriptor; the
run child then names the directory `/proc/self/fd/N` on sys.path and in the packages already
imported. Following that link starts at the directory itself, so the unreachable ancestors are
never searched, while every file below is still opened with the run's own permissions. An
O_PATH descriptor can neither read nor write anything.

The server renames the directories once, in itself, before it serves: `/proc/self` is each
process's own, so every child inherits working names (and the descriptors behind them) with
no work per run. Rewriting the packages in each child would touch, and so copy, much of the
preloaded heap.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import stat
import sys

# Above the descriptors a run normally uses, so they never collide with its pipes.
FIRST_HANDLE_FD = 200
_WORLD_LISTABLE = stat.S_IROTH | stat.S_IXOTH


def relink_unreachable() -> tuple[int, ...]:
    """Name the import directories other uids cannot reach by a descriptor of this process.

    Returns:
        The descriptors, which every run child must keep open.
    """
    handles = _open_unreachable(sys.path)
    _redirect(handles)
    return tuple(descriptor for _, descriptor in handles)


def _open_unreachable(paths: list[str]) -> list[tuple[str, int]]:
    handles = []
    for path in paths:
        if not os.path.isabs(path) or not os.path.isdir(path) or _world_reachable(path):
            continue
        descriptor = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            handles.append((path, fcntl.fcntl(descriptor, fcntl.F_DUPFD_CLOEXEC, FIRST_HANDLE_FD)))
        finally:
            os.close(descriptor)
    return handles


def _redirect(handles: list[tuple[str, int]]) -> None:
    if not handles:
        return
    links = [(directory, f"/proc/self/fd/{descriptor}") for directory, descriptor in handles]

    def relinked(entry: str) -> str:
        for directory, link in links:
            if entry == directory or entry.startswith(directory + os.sep):
                return link + entry[len(directory) :]
        return entry

    sys.path[:] = [relinked(entry) for entry in sys.path]
    for module in list(sys.modules.values()):
        search_path = getattr(module, "__path__", None)
        if isinstance(search_path, list):
            search_path[:] = [relinked(entry) for entry in search_path]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()


def _world_reachable(path: str) -> bool:
    real = os.path.realpath(path)
    if os.stat(real).st_mode & _WORLD_LISTABLE != _WORLD_LISTABLE:
        return False
    parent = os.path.dirname(real)
    while True:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        if parent == os.path.dirname(parent):
            return True
        parent = os.path.dirname(parent)
