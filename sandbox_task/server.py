"""The fork server: Python with numpy, pandas and scipy imported, forking one child per run.

Started by `sandbox_task.client.Sandbox` as `python -m sandbox_task.server`, with a scrubbed
environment and the client's end of a socket pair as `--control-fd`. It answers
`{"ready": ...}` once the libraries are imported, then serves requests `{"id": n, "limits":
RunLimits}`, each carrying the child's ends of the run's four pipes (stdin, stdout, stderr,
status) as SCM_RIGHTS descriptors: `{"id": n, "started": true}` when a child has the run
(a request waits for a free uid), then `{"id": n, "ended": {wait status, CPU time, timed
out, elapsed ms, uid}}`, or `{"id": n, "error": "..."}`; framed by `sandbox_task.protocol`.

A run's child is forked ahead of it: one child at a time waits, already in its uid, scratch
directory and namespaces (the slow part of a start: forking a process this size and setting
up namespaces takes 5-15 ms), and is handed the next run's limits and pipes over a socket of
its own; it then sets its rlimits and seccomp filter and runs. When no child waits, one is
forked for the request. The next one is prepared once the runs just started had the time to
finish, so the fork does not hold up their answers.

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
import dataclasses
import json
import math
import os
import resource
import selectors
import signal
import socket
import sys
import time
from collections import deque
from typing import Any

from sandbox_task import namespaces, protocol
from sandbox_task.child import ChildPlan, prepare_child
from sandbox_task.contract import RunLimits, SandboxError
from sandbox_task.janitor import Janitor
from sandbox_task.preparation import preload, prepare_scratch_root, sweep_uids

# How often a timed-out child that is somehow still alive is sent SIGKILL again.
_KILL_AGAIN_S = 0.25
# How long the ending waits for the run's files to be removed once its processes are dead:
# a run's leftovers are normally gone when its result arrives, but a run that made a million
# files gets its result without waiting for them (its uid stays busy until they are gone).
_REMOVAL_WAIT_S = 1.0
# How long after a run starts the next ready child is prepared: forking takes the server a few
# milliseconds, which a short run's answer should not wait for.
_PREPARE_AFTER_S = 0.05
# ... and how long after an answer: right then the run's worker stores the result and the API
# replies, which the fork and the new child's set-up would slow on a small machine (measured
# here: print(1) through the API 56 -> 50 ms p50 with this pause); the next run seldom comes
# sooner than that.
_PREPARE_AFTER_ANSWER_S = 0.015
# How long after a failed preparation (no fork, no socket) the next one is tried.
_PREPARE_RETRY_S = 1.0
# Descriptors one read of the control socket may carry: Linux hands out at most one
# message's worth (RUN_DESCRIPTORS) per read, so this only has to be larger.
_MAX_DESCRIPTORS_PER_READ = 4 * protocol.RUN_DESCRIPTORS


@dataclasses.dataclass(eq=False)
class Run:
    """A child and its run: how it ended. Never anything the run reads or writes.

    The child is made ahead of its run (see `child.prepare_child`): until the run is handed
    to it, `handoff` is the server's end of the socket it waits on and no client waits for it.
    """

    uid: int
    pid: int
    handoff: socket.socket | None
    request_id: Any = None
    started: float = 0.0
    deadline: float = math.inf
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
        if self.answered or self.wait_status is None or self.waiting:
            return None
        if self.teardown_ok is not None:
            return 0.0
        return None if self.dead_at is None else self.dead_at + _REMOVAL_WAIT_S

    @property
    def waiting(self) -> bool:
        """The child has not been handed a run (yet)."""
        return self.handoff is not None

    @property
    def finished(self) -> bool:
        return (self.answered or self.waiting) and self.teardown_ok is not None


@dataclasses.dataclass(eq=False)
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
        # A child set up ahead of the next run, waiting for it (None while none is).
        self._ready: Run | None = None
        self._last_answer = 0.0  # monotonic time of the last answer sent
        self._prepare_again_at = 0.0  # after a failed preparation, not before this
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
            due = self._replenish_due()
            if due is not None and due <= time.monotonic():
                self._prepare_next()

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
        self._ready = None
        self._selector.unregister(self._control)
        while self._queue:
            _close_all(self._queue.popleft().descriptors)
        for run in list(self._runs):
            self._time_out(run)

    def _start_queued(self) -> None:
        while self._queue and (self._ready or self._free_uids) and not self._closing:
            queued = self._queue.popleft()
            try:
                self._start_run(queued)
            except OSError as error:
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

    def _start_run(self, queued: QueuedRun) -> None:
        """Hand the run to the ready child (made now if there is none): limits and pipes.

        Raises:
            OSError: no child could take it.
        """
        child = self._take_ready_child()
        if not self._hand_off(child, queued):
            # It died waiting (the OOM killer prefers it) and was not reaped yet: it is torn
            # down as usual, and the run goes to a child forked now.
            if not self._free_uids:
                raise OSError("the child waiting for the run died")
            child = self._prepare_child(self._free_uids.popleft())
            if not self._hand_off(child, queued):
                raise OSError("the child forked for the run died")
        # The client's time limit for its answer starts now, not while the run was queued.
        self._send({"id": queued.request_id, "started": True})

    def _hand_off(self, child: Run, queued: QueuedRun) -> bool:
        """Send the child its run; False if it is gone (it is then killed and torn down)."""
        assert child.handoff is not None
        try:
            socket.send_fds(
                child.handoff,
                [json.dumps(dataclasses.asdict(queued.limits)).encode()],
                list(queued.descriptors),
            )
        except OSError:
            child.answered = True  # no client waits for it
            self._kill_child(child)
            return False
        finally:
            child.handoff.close()
            child.handoff = None
        child.request_id = queued.request_id
        child.started = time.monotonic()
        child.deadline = child.started + queued.limits.timeout_s
        return True

    def _take_ready_child(self) -> Run:
        child = self._ready or self._prepare_child(self._free_uids.popleft())
        self._ready = None
        return child

    def _prepare_child(self, uid: int) -> Run:
        """Fork a child that sets itself up for a run as `uid` and waits to be handed one.

        Raises:
            OSError: no socket or no fork; `uid` is free again.
        """
        try:
            server_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError:
            self._free_uids.appendleft(uid)
            raise
        plan = ChildPlan(
            uid=uid,
            gid=uid,
            scratch_root=self._scratch_root,
            scratch_name=f"run-{uid}-{os.urandom(8).hex()}",
            namespaces=self._use_namespaces,
            handoff_fd=child_end.fileno(),
            import_handles=self._import_handles,
        )
        try:
            pid = os.fork()
        except OSError:
            server_end.close()
            child_end.close()
            self._free_uids.appendleft(uid)
            raise
        if pid == 0:
            server_end.close()
            prepare_child(plan)
        child_end.close()
        child = Run(uid=uid, pid=pid, handoff=server_end)
        self._runs.add(child)
        self._children[pid] = child
        return child

    def _replenish_due(self) -> float | None:
        """When to prepare the next ready child (None: not now).

        Forking takes the server a few milliseconds, so it waits until the runs just started
        have had that long to finish, rather than delay their answers, and lets the moments
        after an answer pass.
        """
        if self._ready is not None or not self._free_uids or self._closing:
            return None
        recent = [run.started for run in self._runs if not run.waiting and not run.answered]
        due = (
            max(recent) + _PREPARE_AFTER_S
            if recent
            else self._last_answer + _PREPARE_AFTER_ANSWER_S
        )
        return max(due, self._prepare_again_at)

    def _prepare_next(self) -> None:
        try:
            self._ready = self._prepare_child(self._free_uids.popleft())
        except OSError as error:
            # Out of processes or memory (a run's fork bomb, say): look again later, not at
            # once in a loop; a request meanwhile still forks its own child.
            self._prepare_again_at = time.monotonic() + _PREPARE_RETRY_S
            print(f"sandbox: could not prepare a child: {error}", file=sys.stderr)

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
                if run is self._ready:  # died before its run came: torn down all the same
                    self._ready = None
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
        if run.handoff is not None:
            run.handoff.close()
            run.handoff = None
            run.answered = True  # no client waits for a child that never had a run
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
            if run.wait_status is None and not (run.waiting and not run.timed_out)
        ]
        moments += [due for run in self._runs if (due := run.answer_due()) is not None]
        if (due := self._replenish_due()) is not None:
            moments.append(due)
        if not moments:
            return None
        return max(0.0, min(moments) - time.monotonic())

    # -- finishing ------------------------------------------------------------------------

    def _answer(self, run: Run) -> None:
        """Every process of the run is dead: say how it ended (its files may still go)."""
        run.answered = True
        self._last_answer = time.monotonic()
        self._send(
            {
                "id": run.request_id,
                "ended": {
                    "wait_status": run.wait_status,
                    "cpu_seconds": run.cpu_seconds,
                    "timed_out": run.timed_out,
                    "elapsed_ms": run.elapsed_ms,
                    "uid": run.uid,
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
