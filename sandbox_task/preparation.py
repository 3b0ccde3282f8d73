"""What the fork server does once, before it serves: scratch root, stale uids, preloading.

Everything here runs in the server process before its event loop starts (the janitor is
forked between `sweep_uids` and `preload`, while the process is still small).
"""

from __future__ import annotations

import gc
import os
import sys

from sandbox_task import importpaths
from sandbox_task.contract import SandboxError
from sandbox_task.teardown import tear_down
from sandbox_task.uids import UidBlock

# BLAS and OpenMP read these when the libraries load: one thread per run.
THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
PRELOADED_MODULES = ("numpy", "pandas", "scipy", "scipy.stats", "scipy.optimize")
# Standard modules user code commonly imports, loaded here so a run never reads them itself:
# where the interpreter's own files are not world-readable (a pyenv under /root) a run's
# uid could not import them, and everywhere it saves the run the time.
PRELOADED_STANDARD_MODULES = (
    "base64", "bisect", "calendar", "cmath", "collections", "colorsys", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "encodings.idna", "enum", "fnmatch",
    "fractions", "functools", "glob", "hashlib", "heapq", "io", "itertools", "json", "math",
    "operator", "pathlib", "pprint", "random", "re", "secrets", "shutil", "statistics",
    "string", "struct", "subprocess", "textwrap", "time", "timeit", "typing", "unicodedata",
    "urllib.parse", "urllib.request", "uuid", "zlib",
)  # fmt: skip


def sweep_uids(uid_base: int, slots: int, scratch_root: str) -> list[int]:
    """Tear down every uid of the block before serving; return those that were cleared.

    A server that crashed may have left processes and files of these uids behind (its
    client then starts a new server on the same block). A uid that cannot be cleared is
    left out (and logged), never served, and the next run uid of the block is tried instead:
    starting without it beats not starting at all.

    Returns:
        Up to `slots` cleared run uids, in order (fewer only when too many cannot be cleared).
    """
    cleared: list[int] = []
    for uid in range(uid_base, uid_base + UidBlock.RUN_UIDS):
        if len(cleared) == slots:
            break
        pid = os.fork()
        if pid == 0:
            os._exit(0 if tear_down(uid, scratch_root) else 1)
        _, wait_status = os.waitpid(pid, 0)
        if wait_status == 0:
            cleared.append(uid)
        else:
            print(f"sandbox: uid {uid} could not be cleared, not used", file=sys.stderr)
    return cleared


def prepare_scratch_root(path: str) -> None:
    """Make the scratch root a directory of ours where any uid may create but not list.

    1733 (sticky, write and search for all, no read): each run creates its own directory
    there as its own uid, cannot see the others' names and cannot remove or rename them.

    Raises:
        SandboxError: the path exists but is not a directory of ours.
    """
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or info.st_uid != os.geteuid():
        raise SandboxError(f"scratch root {path} is not a directory owned by the runner")
    os.chmod(path, 0o1733)  # noqa: S103 - sticky and unlistable: the point


def preload() -> tuple[int, ...]:
    """Import what every run finds ready, with one BLAS thread, then freeze the heap.

    gc.freeze keeps the collector from touching (and so copying) the preloaded objects in
    every forked child.

    Returns:
        The descriptors naming import directories run uids could not reach (importpaths).
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    for name in (*PRELOADED_MODULES, *PRELOADED_STANDARD_MODULES):
        __import__(name)
    import sandbox_task.seccomp  # noqa: F401 - the child must not import it

    # Only absolute entries: nothing relative to a run's working directory is ever searched.
    sys.path[:] = [entry for entry in sys.path if os.path.isabs(entry)]
    import_handles = importpaths.relink_unreachable()
    gc.collect()
    gc.freeze()
    return import_handles
