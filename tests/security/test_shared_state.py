"""Hostile programs that leave kernel state other than files and processes behind.

System V IPC objects outlive the process that made them (and shared memory segments and
message queues are memory outside the run's RLIMIT_AS), and abstract unix socket names live
in the network namespace, which the plain mode shares with the host. Safe outcome: a run
cannot make System V IPC objects at all (the seccomp filter refuses them), nothing a run made
is left for the next run, and no run can take a name the runner itself relies on.
"""

from __future__ import annotations

import secrets
import subprocess
import threading
from pathlib import Path

from sandbox_task.uids import LOCK_DIRECTORY, claim_uid_block
from tests.security.support import release_waiting_runs, wait_for_scratch_holding

SYSV = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
IPC_CREAT = 0o1000
KEY = {key}
"""


def ipc_objects_with_key(key: int) -> list[str]:
    """The System V IPC objects of the host's IPC namespace with `key`."""
    found = []
    for kind in ("shm", "msg", "sem"):
        lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        found += [f"{kind} {line.split()[1]}" for line in lines if int(line.split()[0]) == key]
    return found


def remove_ipc_objects(found: list[str]) -> None:
    flags = {"shm": "-m", "msg": "-q", "sem": "-s"}
    for item in found:
        kind, ident = item.split()
        subprocess.run(["ipcrm", flags[kind], ident], check=False)


def test_system_v_ipc_objects_cannot_be_made(runner):
    key = secrets.randbelow(2**30) + 1
    result = runner.run(
        SYSV.format(key=key)
        + """
import errno
for kind, make in (
    ("shm", lambda: libc.shmget(KEY, 64 << 20, IPC_CREAT | 0o666)),
    ("msg", lambda: libc.msgget(KEY, IPC_CREAT | 0o666)),
    ("sem", lambda: libc.semget(KEY, 1, IPC_CREAT | 0o666)),
):
    made = make()
    print(kind, made, errno.errorcode.get(ctypes.get_errno()) if made == -1 else "made")
"""
    )
    leftovers = ipc_objects_with_key(key)
    remove_ipc_objects(leftovers)
    assert leftovers == []
    assert result.status == "COMPLETED", result
    assert result.stdout.splitlines() == ["shm -1 EPERM", "msg -1 EPERM", "sem -1 EPERM"]


def test_a_run_cannot_squat_the_uid_reservations_of_new_servers(runner, server):
    """Holding every name or lock a runner could use for its uids must not starve a new one."""
    squatter: dict[str, object] = {}

    def squat() -> None:
        squatter["result"] = runner.run(
            """
            import fcntl, os, socket, time
            LOCK_DIRECTORY = LOCK_DIRECTORY_VALUE
            held = []
            for index in range(4096):
                name = f"\\0event-horizon-sandbox-uids-{100000 + index * 64}"
                holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    holder.bind(name)
                    held.append(holder)
                except OSError:
                    holder.close()
            for base in range(100000, 100000 + 64 * 64, 64):
                try:
                    lock = os.open(f"{LOCK_DIRECTORY}/uids-{base}.lock", os.O_RDONLY | os.O_CREAT)
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    print("LOCKED", base)
                except OSError:
                    pass
            open("squatting", "w").close()
            while not os.path.exists("release"):
                time.sleep(0.005)
            print("held", len(held))
            """.replace("LOCK_DIRECTORY_VALUE", repr(LOCK_DIRECTORY)),
            timeout_s=10.0,
            open_files=8192,
        )

    thread = threading.Thread(target=squat)
    thread.start()
    try:
        scratch = wait_for_scratch_holding(server.scratch_root, "squatting")
        block = claim_uid_block()
        block.release()
    finally:
        release_waiting_runs(server.scratch_root)
        thread.join()
    assert squatter["result"].status == "COMPLETED", squatter["result"]
    assert "LOCKED" not in squatter["result"].stdout
    assert scratch.name.startswith("run-")
