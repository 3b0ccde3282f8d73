"""Hostile programs that leave kernel state other than files and processes behind.

System V IPC objects outlive the process that made them, and abstract unix socket names live
in the network namespace, which the plain mode shares with the host. Safe outcome: nothing a
run made is left for the next run, and no run can take a name the runner itself relies on.
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


def test_system_v_ipc_objects_do_not_outlive_the_run(runner):
    key = secrets.randbelow(2**30) + 1
    marker = b"ipc-marker-" + secrets.token_hex(6).encode()
    first = runner.run(
        SYSV.format(key=key)
        + f"""
shm = libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
if shm >= 0:
    ctypes.memmove(libc.shmat(shm, None, 0), {marker!r}, {len(marker)})
print(shm, libc.msgget(KEY, IPC_CREAT | 0o666), libc.semget(KEY, 1, IPC_CREAT | 0o666))
"""
    )
    assert first.status == "COMPLETED", first
    leftovers = ipc_objects_with_key(key)
    second = runner.run(
        SYSV.format(key=key)
        + f"""
shm = libc.shmget(KEY, 0, 0)
if shm >= 0:
    print("FOUND shm", ctypes.string_at(libc.shmat(shm, None, 0), {len(marker)}))
print("msg", libc.msgget(KEY, 0), "sem", libc.semget(KEY, 0, 0))
"""
    )
    remove_ipc_objects(leftovers)
    assert leftovers == []
    assert second.status == "COMPLETED", second
    assert marker.decode() not in second.stdout
    assert second.stdout.endswith("msg -1 sem -1\n")


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
