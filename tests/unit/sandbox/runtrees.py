"""Helpers of the teardown tests: trees built by real run uids, removed with real credentials."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from sandbox_task.uids import FIRST_UID, UidBlock, claim_uid_block

# Run uids of a block of this test process's own, claimed like a server's block and held until
# the process exits: test sessions running at once on the host (and their servers) never share
# uids, so no teardown of theirs (a kill(-1) as that uid) reaches the trees' builders here.
# (Only root may claim one; without root these tests are skipped.)
_BLOCK = claim_uid_block() if os.geteuid() == 0 else None
RUN_A = _BLOCK.base if _BLOCK is not None else FIRST_UID
RUN_B = RUN_A + 1
NOT_A_RUN_UID = 4244


@contextlib.contextmanager
def scratch_root_like_the_servers() -> Iterator[Path]:
    """A directory every uid may create in and nobody but root may list, as the server's."""
    root = Path(tempfile.mkdtemp(prefix="hz-removal-", dir="/var/tmp"))
    root.chmod(0o1733)
    try:
        yield root
    finally:
        _remove_as_root(root)


def in_child(uid: int, action: Callable[[], None], *, saved_uid: int | None = None) -> int:
    """Run `action` in a forked child whose effective uid is `uid`; its exit code.

    saved_uid=0 gives the child the teardown helper's credentials (real uid the partner).
    """
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            if saved_uid is None:
                os.setresuid(uid, uid, uid)
            else:
                os.setresuid(UidBlock.teardown_uid(uid), uid, saved_uid)
            action()
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _remove_as_root(root: Path) -> None:
    """Test clean-up only (the runner never does this): root may remove whatever the modes.

    rm, not shutil.rmtree: a tree left by a failed test may be deeper than Python recurses.
    """
    subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=True)
