"""Fixtures of the security suite: one sandbox per isolation mode for the whole session.

The modes: "plain" (uid, rlimits, seccomp), "namespaces" (plus bubblewrap and per-run
namespaces, locally) and "fargate" (plain, with a server that holds only CAP_SETUID and
CAP_SETGID, as the Fargate task runs it).

Fake AWS secrets are in this process's environment while a sandbox starts, so a server that
inherited the environment would carry them; they are taken out again right after, so the rest
of the session never sees them. After every test the fixture checks that the
sandbox still serves a run, that no process of the test's runs is alive, and that the scratch
root holds nothing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox_task.client import Sandbox
from tests.security.support import (
    Runner,
    descendants_named,
    entries,
    live_processes_named,
    live_processes_of_uids,
)

# suite mode -> the Sandbox's isolation
MODES = {"plain": "plain", "namespaces": "namespaces", "fargate": "plain"}


@dataclass(frozen=True)
class FakeSecrets:
    """Values that must never show up in anything a run can see."""

    access_key_id: str
    secret_key: str
    credentials_uri: str

    @property
    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "ECS_CONTAINER_CREDENTIALS_RELATIVE_URI": self.credentials_uri,
        }

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self.environment.values())


@pytest.fixture(scope="session")
def fake_secrets() -> FakeSecrets:
    return FakeSecrets(
        access_key_id="AKIAFAKE" + secrets.token_hex(6).upper(),
        secret_key="FAKESECRET" + secrets.token_hex(8),
        credentials_uri="/v2/credentials/FAKEURI" + secrets.token_hex(8),
    )


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot make namespaces here, or None when it can."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run(
        ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here: {probe.stderr.strip()}"
    return None


def setpriv_problem() -> str | None:
    """Why the server cannot be started with two capabilities here, or None when it can."""
    if os.geteuid() != 0:
        return "dropping to CAP_SETUID and CAP_SETGID needs root"
    if shutil.which("setpriv") is None:
        return "util-linux setpriv is not installed"
    return None


SETUID_AND_SETGID = (1 << 7) | (1 << 6)  # CAP_SETUID, CAP_SETGID


def effective_capabilities(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(
        next(line for line in status.splitlines() if line.startswith("CapEff:")).split()[1], 16
    )


def real_uid(pid: int) -> int | None:
    """The real uid of `pid`, None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def two_capability_python(directory: Path) -> str:
    """An interpreter launcher whose process keeps only CAP_SETUID and CAP_SETGID.

    Root's capabilities after execve are its bounding set, so the server holds exactly those
    two, like the Fargate task that drops every other one.
    """
    launcher = directory / "python-setuid-setgid-only"
    launcher.write_text(
        "#!/bin/sh\n"
        "exec setpriv --bounding-set=-all,+setuid,+setgid --inh-caps=-all -- "
        f'{sys.executable} "$@"\n'
    )
    launcher.chmod(0o755)
    return str(launcher)


@dataclass
class Server:
    """A started sandbox, where its runs' scratch lives and the host pids of its server."""

    sandbox: Sandbox
    scratch_root: Path
    server_pids: list[int]
    process_pid: int | None  # what the client started (bwrap in namespaces mode)


class Servers:
    """Sandboxes started on first use, one per isolation mode, closed at the session's end."""

    def __init__(self, base: Path, fake_secrets: FakeSecrets) -> None:
        self.base = base
        self.fake_secrets = fake_secrets
        self.started: dict[str, Server] = {}
        self.failed: dict[str, str] = {}

    def get(self, mode: str) -> Server:
        if mode in self.failed:
            pytest.fail(self.failed[mode])
        if mode not in self.started:
            if mode == "namespaces" and (problem := bwrap_problem()):
                pytest.skip(problem)
            if mode == "fargate" and (problem := setpriv_problem()):
                pytest.skip(problem)
            python = two_capability_python(self.base) if mode == "fargate" else sys.executable
            sandbox = Sandbox(
                isolation=MODES[mode],
                scratch_root=self.base / mode,
                max_concurrent_runs=4,
                python=python,
            )
            try:
                with pytest.MonkeyPatch.context() as patch:
                    for name, value in self.fake_secrets.environment.items():
                        patch.setenv(name, value)
                    sandbox.start()
            except Exception as error:
                self.failed[mode] = f"the {mode} sandbox did not start: {error}"
                raise
            assert sandbox.isolation_in_effect == MODES[mode]
            # Root processes only: the probe run's teardown helper (same command line, a
            # partner uid by the time the probe was answered) may not have exited yet, and
            # the child forked for the next run is root for its first moments — so a process
            # is the server (or its janitor) if it is root in two looks half a second apart.
            first = self.root_server_processes()
            time.sleep(0.5)
            pids = sorted(first & self.root_server_processes())
            if mode == "fargate":
                assert pids and all(
                    effective_capabilities(pid) == SETUID_AND_SETGID for pid in pids
                )
            self.started[mode] = Server(sandbox, self.base / mode, pids, sandbox.server_pid)
        return self.started[mode]

    def root_server_processes(self) -> set[int]:
        return {
            pid
            for pid in descendants_named("sandbox_task.server")
            if pid not in self.known_server_pids() and real_uid(pid) == 0
        }

    def known_server_pids(self) -> set[int]:
        return {pid for server in self.started.values() for pid in server.server_pids}

    def close(self) -> None:
        for server in self.started.values():
            server.sandbox.close()


@pytest.fixture(scope="session")
def servers(fake_secrets: FakeSecrets) -> Iterator[Servers]:
    base = Path(tempfile.mkdtemp(prefix="hz-security-"))
    base.chmod(0o755)  # the runs' uids must be able to reach their scratch below it
    started = Servers(base, fake_secrets)
    yield started
    started.close()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=MODES)
def server(request: pytest.FixtureRequest, servers: Servers) -> Server:
    return servers.get(request.param)


def settled_newcomers(
    server: Server, processes_before: set[str], entries_before: set[str], per_child: int
) -> tuple[set[str], set[str]]:
    """The run uids' processes and scratch entries that are new since the test started.

    Looks again for a little while until the new processes and the new directories are of the
    same uids: the child the server forks for the next run takes a moment to make its scratch
    directory, and the files of a run that made very many may still be going when its result
    comes (its uid is handed out again only once they are gone). Leftovers of a run do not
    settle that way, and fail the checks after.
    """
    deadline = time.monotonic() + 3.0
    while True:
        new_processes = set(live_processes_of_uids(server.sandbox.uid_range)) - processes_before
        new_entries = set(entries(server.scratch_root)) - entries_before
        process_uids = {int(line.split()[1]) for line in new_processes}
        if process_uids == {entry_uid(name) for name in new_entries} and len(new_processes) in (
            0,
            per_child,
        ):
            return new_processes, new_entries
        if time.monotonic() > deadline:
            return new_processes, new_entries
        time.sleep(0.02)


def entry_uid(name: str) -> int | None:
    """The uid in a scratch directory's name (`run-<uid>-<random>`); None for anything else."""
    parts = name.split("-")
    return int(parts[1]) if len(parts) == 3 and parts[0] == "run" and parts[1].isdigit() else None


@pytest.fixture
def runner(request: pytest.FixtureRequest, server: Server) -> Iterator[Runner]:
    """The sandbox of this test's isolation mode; checks afterwards that the run left nothing
    and that the very same server still serves.

    Only what appeared during this test counts, so one failure does not fail the tests after.
    """
    mode = MODES[request.node.callspec.params["server"]]
    runner = Runner(server.sandbox, mode, server.scratch_root)
    uids = server.sandbox.uid_range
    processes_before = set(live_processes_of_uids(uids))
    entries_before = set(entries(server.scratch_root))
    yield runner
    assert live_processes_named(runner.tag) == [], "processes of the run outlived it"
    # A waiting child is one process, or three in namespaces mode (relay, init, pid 2).
    per_child = 3 if mode == "namespaces" else 1
    new_processes, new_entries = settled_newcomers(
        server, processes_before, entries_before, per_child
    )
    # The only newcomer allowed is the child the server prepared for the next run: exactly
    # its processes, of one uid, with a new, empty scratch directory (a uid is handed out
    # again only once the teardown of its last run removed every process and file).
    uids_new = {int(line.split()[1]) for line in new_processes} | {
        entry_uid(name) for name in new_entries
    }
    assert len(uids_new) <= 1, f"the runs left processes or files: {new_processes} {new_entries}"
    if uids_new:
        assert len(new_processes) == per_child, f"a run left processes: {new_processes}"
        assert len(new_entries) == 1, f"the run left files in the scratch root: {new_entries}"
        (name,) = new_entries
        assert os.listdir(server.scratch_root / name) == [], "the run left files in its scratch"
    after = runner.run("print('still serving')")
    assert (after.status, after.stdout) == ("COMPLETED", "still serving\n"), after
    # the same server, not one the client had to restart
    assert server.sandbox.server_pid == server.process_pid, "the sandbox server was restarted"
