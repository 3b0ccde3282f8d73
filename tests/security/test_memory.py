"""Hostile programs that look for other runs' data in memory.

Every run's child is a fork of the server: whatever the server's memory held when it forked
(other runs' code, stdin, output; freed buffers included) the child could read, with
`gc.get_objects()` or simply through /proc/self/mem. Safe outcome: the server never holds
any of it (the client keeps the pipes, the child reads its own code after the fork), so a run
finds nothing of a concurrent run in its own memory, and neither does root reading the
server's memory while runs are in flight.
"""

from __future__ import annotations

import re
import secrets
import threading
from pathlib import Path

from sandbox_task.contract import RunResult
from tests.security.support import (
    descendants_named,
    live_processes_named,
    release_waiting_runs,
    wait_for_scratch_holding,
)

# The secrets are this prefix and 16 hex digits; the scanners look for the pattern, so a
# scanner holds no secret itself (a search string would find its own copy).
PREFIX = "VSECRET-"

# Scans the writable mappings of a process's memory for the secrets (chunks overlap, so a
# secret across a chunk boundary is found too). Used by the attacker run and by the test.
SCAN = r"""
import re

def scan(process, pattern=re.compile(rb"VSECRET-([0-9a-f]{16})")):
    found = set()
    with open(f"/proc/{process}/maps") as maps, open(f"/proc/{process}/mem", "rb", buffering=0) as mem:
        for line in maps:
            addresses, permissions = line.split()[:2]
            if not permissions.startswith("rw"):
                continue
            start, end = (int(address, 16) for address in addresses.split("-"))
            for position in range(start, end, 1 << 20):
                try:
                    mem.seek(position)
                    chunk = mem.read(min(end - position, (1 << 20) + 64))
                except OSError:  # a mapping that cannot be read (gone, or a guard page)
                    break
                found.update(token.decode() for token in pattern.findall(chunk))
    return found
"""

# The victim holds one secret in its code, reads one from stdin, prints one it computes (so
# the output's is in neither), then waits in flight until the test releases it.
VICTIM = """
import os, sys, time
code_secret = "VSECRET-{code_token}"
stdin_secret = sys.stdin.read()
print("VSECRET-" + "{reversed_output_token}"[::-1], flush=True)
open("ready", "w").close()
deadline = time.monotonic() + 20
while not os.path.exists("release") and time.monotonic() < deadline:
    time.sleep(0.005)
"""


def attacker(own_token: str) -> str:
    """Code that proves its scan sees its own heap (`own_token`), then reports what it found."""
    return SCAN + (
        f"own = {PREFIX!r} + {own_token[::-1]!r}[::-1]\n"
        # "self": in namespaces mode /proc is the server's, not the run's pid namespace
        'print(" ".join(sorted(scan("self"))))\n'
    )


def new_token() -> str:
    return secrets.token_hex(8)


def start_victim(runner) -> tuple[threading.Thread, list[RunResult], dict[str, str]]:
    tokens = {"code": new_token(), "stdin": new_token(), "output": new_token()}
    results: list[RunResult] = []
    code = VICTIM.format(code_token=tokens["code"], reversed_output_token=tokens["output"][::-1])
    thread = threading.Thread(
        target=lambda: results.append(
            runner.run(code, stdin=PREFIX + tokens["stdin"], timeout_s=30)
        )
    )
    thread.start()
    return thread, results, tokens


def finish_victim(runner, thread: threading.Thread, results: list[RunResult], tokens) -> None:
    release_waiting_runs(runner.scratch_root)
    thread.join()
    assert results[0].status == "COMPLETED", results[0]
    assert results[0].stdout == PREFIX + tokens["output"] + "\n"


def scan_process(pid: int) -> set[str]:
    namespace: dict[str, object] = {}
    exec(SCAN, namespace)  # the very scanner the attacker runs
    return namespace["scan"](pid)  # type: ignore[operator]


def test_a_run_finds_nothing_of_a_concurrent_run_in_its_own_memory(runner):
    thread, results, tokens = start_victim(runner)
    try:
        wait_for_scratch_holding(runner.scratch_root, "ready")
        own = new_token()
        attack = runner.run(attacker(own), timeout_s=30, memory_mb=512)
    finally:
        finish_victim(runner, thread, results, tokens)

    assert attack.status == "COMPLETED", attack
    found = set(attack.stdout.split())
    assert own in found, "the scan does not see the run's own heap"
    assert found.isdisjoint(tokens.values()), found & set(tokens.values())


def test_the_server_never_holds_a_runs_code_stdin_or_output(runner):
    thread, results, tokens = start_victim(runner)
    try:
        wait_for_scratch_holding(runner.scratch_root, "ready")
        # Root processes only: the run's own processes (other uids) hold its secrets, of course.
        servers = [pid for pid in descendants_named("sandbox_task.server") if _is_root(pid)]
        victims = [int(line.split()[0]) for line in live_processes_named(runner.tag)]
        found_in_servers = {pid: scan_process(pid) for pid in servers}
        found_in_victim = set().union(*(scan_process(pid) for pid in victims))
    finally:
        finish_victim(runner, thread, results, tokens)

    assert servers
    assert {tokens["code"], tokens["stdin"]} <= found_in_victim, "the scan does not work"
    for pid, found in found_in_servers.items():
        assert found.isdisjoint(tokens.values()), (pid, found & set(tokens.values()))


def _is_root(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    return re.search(r"^Uid:\s+0\s", status, re.MULTILINE) is not None
