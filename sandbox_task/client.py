"""`Sandbox`: the client of the fork server, used by the execution worker.

It starts `python -m sandbox_task.server` with a scrubbed environment (in namespaces mode
inside bubblewrap) and waits until pandas, numpy and scipy are imported. For each run it makes
the run's pipes, sends the server the limits and the child's ends of the pipes, writes the code
and stdin and reads the output itself (the server never holds any of it), and turns the
server's account of how the child ended into the RunResult. `run` is thread-safe: the server runs up to
`max_concurrent_runs` at once. A server that dies fails the runs in flight with SandboxError
and is started again by the next `run`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Literal

from sandbox_task import protocol
from sandbox_task.connection import ServerConnection
from sandbox_task.contract import RunRequest, RunResult, SandboxError
from sandbox_task.launch import server_command, server_environment
from sandbox_task.outcome import ChildReport, build_result
from sandbox_task.runpipes import RunPipes
from sandbox_task.uids import UidBlock, claim_uid_block

Isolation = Literal["auto", "namespaces", "plain"]
logger = logging.getLogger(__name__)

# Importing pandas, numpy and scipy on a cold Fargate task takes seconds, not minutes.
START_TIMEOUT_S = 120.0
# How long past a run's own time limit (counted from the run's start in the server, not from
# its submission: it may wait there for a uid still being cleaned) the server may take to
# answer before it is presumed stuck (and restarted): killing is milliseconds, the files are
# removed after the answer; this is only a safety net.
ANSWER_GRACE_S = 30.0


class Sandbox:
    """Runs untrusted Python in the fork server's children.

    Args:
        isolation: "namespaces" (bubblewrap around the server, namespaces per run), "plain"
            (uid, rlimits and seccomp only: what Fargate allows) or "auto" (namespaces when
            bubblewrap is installed and works here, else plain).
        scratch_root: where the runs' scratch directories are made; a fresh temporary
            directory when omitted. It must not be inside a directory user code can write.
        max_concurrent_runs: runs executing at once (each holds a uid of its own), at most 32.
        python: the interpreter of the server.
    """

    def __init__(
        self,
        isolation: Isolation = "auto",
        scratch_root: str | Path | None = None,
        max_concurrent_runs: int = 4,
        python: str = sys.executable,
    ) -> None:
        if isolation not in ("auto", "namespaces", "plain"):
            raise ValueError(f"unknown isolation {isolation!r}")
        if not 1 <= max_concurrent_runs <= UidBlock.RUN_UIDS:
            raise ValueError(f"max_concurrent_runs must be within 1..{UidBlock.RUN_UIDS}")
        self.isolation = isolation
        self.isolation_in_effect = ""
        self._scratch_root = str(scratch_root) if scratch_root else None
        self._owns_scratch_root = scratch_root is None
        self._max_concurrent_runs = max_concurrent_runs
        self._python = python
        self._slots = threading.BoundedSemaphore(max_concurrent_runs)
        self._lock = threading.Lock()
        self._connection: ServerConnection | None = None
        self._uid_block: UidBlock | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server; return once the libraries are imported and a first run worked.

        Raises:
            SandboxError: the server could not start, or "namespaces" was asked for and
                cannot work here.
        """
        with self._lock:
            self._ensure_server()

    def close(self) -> None:
        """Stop the server (runs in flight are killed) and release the uids and scratch."""
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if self._uid_block is not None:
                self._uid_block.release()
                self._uid_block = None
            if self._owns_scratch_root and self._scratch_root:
                # Only when empty: root never walks a tree the runs could write.
                with contextlib.suppress(OSError):
                    os.rmdir(self._scratch_root)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def server_pid(self) -> int | None:
        """The pid of the server process as this process sees it (bubblewrap's, if used)."""
        connection = self._connection
        return connection.process.pid if connection else None

    @property
    def uid_range(self) -> range:
        """The uids the runs of this sandbox may use: its block's run uids.

        Usually the first `max_concurrent_runs` of them; the server skips any uid its start-up
        sweep could not clear and takes the next one.
        """
        if self._uid_block is None:
            raise SandboxError("the sandbox is not started")
        return range(self._uid_block.base, self._uid_block.base + UidBlock.RUN_UIDS)

    # -- running --------------------------------------------------------------------------

    def run(self, request: RunRequest) -> RunResult:
        """Run one request and return its result; thread-safe.

        Raises:
            SandboxError: the sandbox failed (not the code): the server died or was stuck.
        """
        with self._slots:
            with self._lock:
                connection = self._ensure_server()
            return self._run_on(connection, request)

    def _run_on(self, connection: ServerConnection, request: RunRequest) -> RunResult:
        """Make the run's pipes, send the child's ends, feed and read them, merge the ending.

        The code, stdin and output stay in this process: the server only gets the pipes.
        """
        pipes = RunPipes(request.limits)
        try:
            child_ends = pipes.take_child_ends()
            try:
                pending = connection.submit(request.limits, child_ends)
            finally:
                for descriptor in child_ends:
                    os.close(descriptor)
            try:
                budget_s = request.limits.timeout_s + ANSWER_GRACE_S
                pipes.exchange(protocol.run_input(request.code, request.stdin), pending, budget_s)
                answered = pending.wait(budget_s)
            finally:
                pending.close()
        finally:
            pipes.close()
        if not answered:
            connection.forget(pending)
            connection.fail("the sandbox server stopped answering")
            connection.process.kill()
            raise SandboxError("the sandbox server stopped answering")
        if pending.error is not None:
            raise SandboxError(pending.error)
        answer = pending.answer or {}
        ended = answer.get("ended")
        if not isinstance(ended, dict):
            raise SandboxError(str(answer.get("error", "the sandbox server gave no result")))
        return build_result(
            limits=request.limits,
            wait_status=int(ended["wait_status"]),
            cpu_seconds=float(ended["cpu_seconds"]),
            timed_out=bool(ended["timed_out"]),
            report=ChildReport.parse(bytes(pipes.status.data)),
            stdout=pipes.stdout,
            stderr=pipes.stderr,
            elapsed_ms=int(ended["elapsed_ms"]),
            uid=int(ended["uid"]),
        )

    # -- the server -----------------------------------------------------------------------

    def _ensure_server(self) -> ServerConnection:
        """Return a live server connection, starting one if needed (caller holds _lock)."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        if self._connection is not None and not self._connection.dead:
            return self._connection
        if self._connection is not None:
            self._connection.close(timeout_s=2.0)
            self._connection = None
        isolations = self._isolations_to_try()
        if self._uid_block is None:
            self._uid_block = claim_uid_block()
        if self._scratch_root is None:
            self._scratch_root = tempfile.mkdtemp(prefix="sandbox-scratch-")
        else:
            # bwrap binds it, so it must exist before the server (which sets its mode) starts.
            self._scratch_root = os.path.realpath(self._scratch_root)
            os.makedirs(self._scratch_root, mode=0o700, exist_ok=True)
        for isolation in isolations:
            try:
                self._connection = self._start_server(isolation)
            except SandboxError as error:
                if isolation == "plain" or self.isolation == "namespaces":
                    raise
                logger.warning("sandbox: %s; falling back to plain isolation", error)
                continue
            self.isolation_in_effect = isolation
            if isolation == "plain" and self._max_concurrent_runs > 1 and not _shared_tmp_guarded():
                logger.warning(
                    "sandbox: plain isolation with %d runs at once on a host whose sticky "
                    "directories are unprotected (fs.protected_regular, fs.protected_symlinks, "
                    "fs.protected_fifos): concurrent runs share /tmp, where one could plant a "
                    "file, link or fifo that another's code then writes into",
                    self._max_concurrent_runs,
                )
            return self._connection
        raise SandboxError("no isolation mode could start")  # pragma: no cover

    def _isolations_to_try(self) -> list[str]:
        if self.isolation_in_effect:  # a restart keeps what worked
            return [self.isolation_in_effect]
        if self.isolation == "plain":
            return ["plain"]
        if self.isolation == "namespaces":
            self._bwrap()
            return ["namespaces"]
        return ["namespaces", "plain"] if shutil.which("bwrap") else ["plain"]

    def _start_server(self, isolation: str) -> ServerConnection:
        assert self._uid_block is not None and self._scratch_root is not None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv = server_command(
            python=self._python,
            control_fd=theirs.fileno(),
            scratch_root=self._scratch_root,
            uid_base=self._uid_block.base,
            slots=self._max_concurrent_runs,
            bwrap=self._bwrap() if isolation == "namespaces" else None,
        )
        try:
            process = subprocess.Popen(  # noqa: S603 - fixed argv
                argv,
                env=server_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                cwd="/",
            )
        except OSError as error:
            ours.close()
            raise SandboxError(f"could not start the sandbox server: {error}") from error
        finally:
            theirs.close()
        connection = ServerConnection(process, ours)
        try:
            hello = connection.wait_ready(START_TIMEOUT_S)
            connection.server_pid = hello.get("pid")
            self._probe(connection, isolation)
        except SandboxError:
            connection.close(timeout_s=2.0)
            raise
        return connection

    @staticmethod
    def _bwrap() -> str:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxError("namespaces isolation needs bubblewrap (bwrap), not installed")
        return bwrap

    def _probe(self, connection: ServerConnection, isolation: str) -> None:
        """One empty run: proves uids, namespaces and seccomp all work before any real run."""
        try:
            result = self._run_on(connection, RunRequest(run_id="probe", code="pass"))
        except SandboxError as error:
            raise SandboxError(f"{isolation} isolation does not work here: {error}") from error
        if result.status != "COMPLETED":
            raise SandboxError(f"{isolation} isolation does not work here: {result.error}")


def _shared_tmp_guarded() -> bool:
    """Whether the kernel stops one uid's files and links in /tmp from catching another's.

    With fs.protected_regular and fs.protected_fifos ≥ 1 an O_CREAT open of a file or fifo
    another uid made in a sticky, world-writable directory fails, and with
    fs.protected_symlinks 1 no such link of another uid is followed (most distributions set
    all three; some containers do not). What a run creates itself is 0600 anyway (umask 077).
    """
    try:
        regular, fifos, symlinks = (
            Path(f"/proc/sys/fs/protected_{name}").read_text().strip()
            for name in ("regular", "fifos", "symlinks")
        )
    except OSError:
        return False
    return regular in ("1", "2") and fifos in ("1", "2") and symlinks == "1"
