"""The fork server: Python with numpy, pandas and scipy imported, forking one child per run.

Started by `sandbox_task.client.Sandbox` as `python -m sandbox_task.server`, with a scrubbed
environment and the client's end of a socket pair as `--control-fd`. It answers
`{"ready": ...}` once the libraries are imported, then serves requests `{"id": n, "limits":
RunLimits}`, each carrying the child's ends of the run's four pipes (stdin, stdout, stderr,
status) as SCM_RIGHTS descriptors: `{"id": n, "started": true}` when the child is forked
(a request waits for a free uid), then `{"id": n, "ended": {wait status, CPU time, timed
out, elapsed ms}}`, or `{"id": n, "error": "..."}`; framed by `sandbox_task.protocol`.

The server never sees a run's code, stdin or output: the client writes and reads the pipes,
the child reads its code from its stdin after the fork. Every child is a copy of this
process's memory, so whatever this process once held, any later run could read.

One single-threaded event loop supervises every run (forking from a process with threads
could deadlock the child): it reaps children on SIGCHLD, enforces the wall clock, and when the
child is gone (or its time is up) has the janitor fork the teardown helper that kills
whatever the run left and removes its files. Each run in flight holds a uid of its own from a
block the client reserved (those the start-up sweep could clear); a uid whose teardown fails
is quarantined, and once none is left every request is refused at once. The server is a child subreaper: the run's orphans (double-forked
daemons) become its children and are reaped here, so no zombie keeps counting against a
uid's process limit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import selectors
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sandbox_task import namespaces, protocol
from sandbox_task.child import ChildPlan, run_child
from sandbox_task.contract import RunLimits, SandboxError
from sandbox_task.janitor import Janitor
from sandbox_task.preparation import preload, prepare_scratch_root, sweep_uids

# How often a timed-out child that is somehow still alive is sent SIGKILL again.
_KILL_AGAIN_S = 0.25
# How long the ending waits for the run's files to be removed once its processes are dead:
# a run's leftovers are normally gone when its result arrives, but a run that made a million
# files gets its result without waiting for them (its uid stays busy until they are gone).
_REMOVAL_WAIT_S = 1.0
# Descriptors one read of the control socket may carry: Linux hands out at most one
# message's worth (RUN_DESCRIPTORS) per read, so this only has to be larger.
_MAX_DESCRIPTORS_PER_READ = 4 * protocol.RUN_DESCRIPTORS


@dataclass(eq=False)
class Run:
    """One run in flight: its child and how it ended. Never anything the run reads or writes."""

    request_id: Any
    limits: RunLimits
    uid: int
    pid: int
    started: float
    deadline: float
    wait_status: int | None = None
    cpu_seconds: float = 0.0
    elapsed_ms: int = 0
    timed_out: bool = False
    next_kill: float = 0.0
    teardown_requested: bool = False
    # When the teardown said every process of the uid is gone.
    dead_at: float | None = None
    answered: bool = False
    # The teardown is complete (files removed too): the uid is free again, or quarantined.
    teardown_ok: bool | None = None

    def answer_due(self) -> float | None:
        """When the ending may be sent (None: not yet known).

        Once the teardown is complete, or _REMOVAL_WAIT_S after every process is dead if the
        file removal takes longer (the uid stays busy meanwhile).
        """
        if self.answered or self.wait_status is None:
            return None
        if self.teardown_ok is not None:
            return 0.0
        return None if self.dead_at is None else self.dead_at + _REMOVAL_WAIT_S

    @property
    def finished(self) -> bool:
        return self.answered and self.teardown_ok is not None


@dataclass(eq=False)
class QueuedRun:
    """A request waiting for a free uid: its limits and the child's ends of its pipes."""

    request_id: Any
    limits: RunLimits
    descriptors: tuple[int, ...]


class ForkServer:
    """The event loop: requests in, one child per run, endings out."""

    def __init__(
        self,
        control: socket.socket,
        scratch_root: str,
        run_uids: list[int],
        use_namespaces: bool,
        janitor: Janitor,
        import_handles: tuple[int, ...] = (),
    ) -> None:
        self._control = control
        self._scratch_root = scratch_root
        self._free_uids = deque(run_uids)
        self._use_namespaces = use_namespaces
        self._import_handles = import_handles
        self._janitor = janitor
        self._decoder = protocol.FrameDecoder()
        self._received_descriptors: deque[int] = deque()
        self._selector = selectors.DefaultSelector()
        self._queue: deque[QueuedRun] = deque()
        self._runs: set[Run] = set()
        self._closing = False
        self._children: dict[int, Run] = {}
        self._sigchld_read, sigchld_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        signal.set_wakeup_fd(sigchld_write, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        namespaces.become_subreaper()

    def serve(self) -> None:
        """Serve until the client closes its end, then end every run in flight."""
        self._selector.register(self._control, selectors.EVENT_READ, "control")
        self._selector.register(self._sigchld_read, selectors.EVENT_READ, "sigchld")
        self._selector.register(self._janitor.socket, selectors.EVENT_READ, "janitor")
        while not self._closing or self._runs:
            for key, _ in self._selector.select(self._next_timeout()):
                self._dispatch(key.data)
            self._reap_children()
            self._enforce_deadlines()
            now = time.monotonic()
            for run in self._runs:
                due = run.answer_due()
                if due is not None and due <= now:
                    self._answer(run)
            for run in [run for run in self._runs if run.finished]:
                self._release(run)

    # -- requests -------------------------------------------------------------------------

    def _read_control(self) -> None:
        data, descriptors, flags, _ = socket.recv_fds(
            self._control, 64 * 1024, _MAX_DESCRIPTORS_PER_READ, socket.MSG_CMSG_CLOEXEC
        )
        self._received_descriptors.extend(descriptors)
        if flags & socket.MSG_CTRUNC:
            raise SandboxError("the client sent more descriptors than a request carries")
        if not data:
            self._shut_down()
            return
        for message in self._decoder.feed(data):
            self._queue_request(message)
        self._start_queued()

    def _queue_request(self, message: dict[str, Any]) -> None:
        # The descriptors came with the message's first bytes: no later than its end.
        if len(self._received_descriptors) < protocol.RUN_DESCRIPTORS:
            raise SandboxError("a request arrived without its descriptors")
        descriptors = tuple(
            self._received_descriptors.popleft() for _ in range(protocol.RUN_DESCRIPTORS)
        )
        request_id = message.get("id")
        try:
            limits = RunLimits(**message["limits"])
        except (KeyError, TypeError, ValueError) as error:
            _close_all(descriptors)
            self._send({"id": request_id, "error": f"invalid request: {error}"})
            return
        self._queue.append(QueuedRun(request_id, limits, descriptors))

    def _shut_down(self) -> None:
        self._closing = True
        self._selector.unregister(self._control)
        while self._queue:
            _close_all(self._queue.popleft().descriptors)
        for run in list(self._runs):
            self._time_out(run)

    def _start_queued(self) -> None:
        while self._queue and self._free_uids and not self._closing:
            queued = self._queue.popleft()
            uid = self._free_uids.popleft()
            try:
                self._start_run(queued, uid)
            except OSError as error:
                self._free_uids.appendleft(uid)
                self._send({"id": queued.request_id, "error": f"could not start the run: {error}"})
            finally:
                # The child has its copies: the server never holds a run's pipes.
                _close_all(queued.descriptors)
        if not self._free_uids and not self._runs:
            # Every uid is quarantined: no run will ever free one, so waiting is pointless.
            while self._queue:
                queued = self._queue.popleft()
                _close_all(queued.descriptors)
                self._send({"id": queued.request_id, "error": "no sandbox uid is left to run as"})

    def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # a gone client shows up as EOF on the next read
            protocol.send(self._control, message)

    # -- starting a run -------------------------------------------------------------------

    def _start_run(self, queued: QueuedRun, uid: int) -> None:
        stdin_fd, stdout_fd, stderr_fd, status_fd = queued.descriptors
        plan = ChildPlan(
            limits=queued.limits,
            uid=uid,
            gid=uid,
            scratch_root=self._scratch_root,
            scratch_name=f"run-{uid}-{os.urandom(8).hex()}",
            namespaces=self._use_namespaces,
            stdin_fd=stdin_fd,
            stdout_fd=stdout_fd,
            stderr_fd=stderr_fd,
            status_fd=status_fd,
            import_handles=self._import_handles,
        )
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            run_child(plan)
        run = Run(
            request_id=queued.request_id,
            limits=queued.limits,
            uid=uid,
            pid=pid,
            started=started,
            deadline=started + queued.limits.timeout_s,
        )
        self._runs.add(run)
        self._children[pid] = run
        # The client's time limit for its answer starts now, not while the run was queued.
        self._send({"id": queued.request_id, "started": True})

    # -- events ---------------------------------------------------------------------------

    def _dispatch(self, kind: str) -> None:
        if kind == "control":
            self._read_control()
        elif kind == "janitor":
            self._read_janitor()
        elif kind == "sigchld":
            with contextlib.suppress(BlockingIOError):
                os.read(self._sigchld_read, 4096)

    def _reap_children(self) -> None:
        """Reap every exited child: run children and adopted orphans (the janitor must live)."""
        while True:
            try:
                pid, wait_status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self._children.pop(pid, None)
            if run is not None:
                self._on_child_exit(run, wait_status, usage)
            elif pid == self._janitor.pid:
                raise SandboxError("the janitor died")

    def _read_janitor(self) -> None:
        report = self._janitor.receive_report()
        if report is None:
            raise SandboxError("the janitor closed its socket")
        for run in self._runs:
            if run.uid == report.uid and run.teardown_requested:
                if run.dead_at is None:  # "done" without "dead": a teardown failed early
                    run.dead_at = time.monotonic()
                if report.stage == "done":
                    run.teardown_ok = report.succeeded

    def _on_child_exit(self, run: Run, wait_status: int, usage: resource.struct_rusage) -> None:
        run.elapsed_ms = int((time.monotonic() - run.started) * 1000)
        run.wait_status = wait_status
        run.cpu_seconds = usage.ru_utime + usage.ru_stime
        self._start_teardown(run)

    def _start_teardown(self, run: Run) -> None:
        if not run.teardown_requested:
            run.teardown_requested = True
            self._janitor.request(run.uid)

    def _time_out(self, run: Run) -> None:
        """Kill the child itself, then everything of its uid.

        The child may still be root, in its set-up, where the uid sweep cannot see it; it is
        the server's own unreaped child, so its pid cannot have been reused. Once SIGKILL is
        pending it can start no process any more, so the sweep that follows gets the rest.
        Without CAP_KILL (Fargate) the kill fails once the child has its run uid, which is
        then exactly when the sweep reaches it.
        """
        run.timed_out = True
        self._kill_child(run)
        self._start_teardown(run)

    def _kill_child(self, run: Run) -> None:
        if run.wait_status is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(run.pid, signal.SIGKILL)
            run.next_kill = time.monotonic() + _KILL_AGAIN_S

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for run in self._runs:
            if run.wait_status is not None:
                continue
            if not run.timed_out and now >= run.deadline:
                self._time_out(run)
            elif run.timed_out and now >= run.next_kill:
                self._kill_child(run)

    def _next_timeout(self) -> float | None:
        moments = [
            run.next_kill if run.timed_out else run.deadline
            for run in self._runs
            if run.wait_status is None
        ]
        moments += [due for run in self._runs if (due := run.answer_due()) is not None]
        if not moments:
            return None
        return max(0.0, min(moments) - time.monotonic())

    # -- finishing ------------------------------------------------------------------------

    def _answer(self, run: Run) -> None:
        """Every process of the run is dead: say how it ended (its files may still go)."""
        run.answered = True
        self._send(
            {
                "id": run.request_id,
                "ended": {
                    "wait_status": run.wait_status,
                    "cpu_seconds": run.cpu_seconds,
                    "timed_out": run.timed_out,
                    "elapsed_ms": run.elapsed_ms,
                },
            }
        )

    def _release(self, run: Run) -> None:
        """The teardown is complete: free the uid, or quarantine it if the teardown failed."""
        self._runs.discard(run)
        if run.teardown_ok:
            self._free_uids.append(run.uid)
        else:
            print(f"sandbox: uid {run.uid} quarantined, its teardown failed", file=sys.stderr)
        self._start_queued()


def _close_all(descriptors: tuple[int, ...]) -> None:
    for descriptor in descriptors:
        with contextlib.suppress(OSError):
            os.close(descriptor)


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--scratch-root", required=True)
    parser.add_argument("--uid-base", type=int, required=True)
    parser.add_argument("--slots", type=int, required=True)
    parser.add_argument("--namespaces", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Preload, tell the client we are ready, serve."""
    arguments = _parse_arguments(argv)
    control = socket.socket(fileno=arguments.control_fd)
    try:
        prepare_scratch_root(arguments.scratch_root)
        run_uids = sweep_uids(arguments.uid_base, arguments.slots, arguments.scratch_root)
        janitor = Janitor.start(arguments.scratch_root, report_dead=True)
        import_handles = preload()
    except (OSError, ImportError, SandboxError) as error:
        protocol.send(control, {"ready": False, "error": f"{type(error).__name__}: {error}"})
        raise SystemExit(1) from error
    protocol.send(control, {"ready": True, "pid": os.getpid()})
    ForkServer(
        control,
        scratch_root=arguments.scratch_root,
        run_uids=run_uids,
        use_namespaces=arguments.namespaces,
        janitor=janitor,
        import_handles=import_handles,
    ).serve()


if __name__ == "__main__":
    main()
