"""The fork server: Python with numpy, pandas and scipy imported, forking one child per run.

Started by `sandbox_task.client.Sandbox` as `python -m sandbox_task.server`, with a scrubbed
environment and the client's end of a socket pair as `--control-fd`. It answers
`{"ready": ...}` once the libraries are imported, then serves requests
`{"id": n, "request": RunRequest}` with `{"id": n, "result": RunResult}` or
`{"id": n, "error": "..."}`, framed by `sandbox_task.protocol`.

One single-threaded event loop supervises every run (forking from a process with threads
could deadlock the child): it feeds stdin, reads stdout and stderr up to their caps, reaps
children on SIGCHLD, enforces the wall clock, and when the child is gone (or its time is up)
has the janitor fork the teardown helper that kills whatever the run left and removes its
files. Each run in
flight holds a uid of its own from a block the client reserved. The server is a child
subreaper: the run's orphans (double-forked daemons) become its children and are reaped here,
so no zombie keeps counting against a uid's process limit.
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
from dataclasses import dataclass, field
from typing import Any

from sandbox_task import namespaces, protocol
from sandbox_task.child import ChildPlan, run_child
from sandbox_task.contract import RunRequest, SandboxError
from sandbox_task.janitor import Janitor
from sandbox_task.outcome import Capture, ChildReport, build_result
from sandbox_task.preparation import preload, prepare_scratch_root, sweep_uids

_READ_CHUNK = 64 * 1024
_STATUS_CAP = 64 * 1024
# After a run's processes are all dead, how long its pipes may still be read from: only a
# descriptor smuggled to another uid's process could keep them open longer.
_DRAIN_GRACE_S = 0.05


@dataclass(eq=False)
class Run:
    """One run in flight: its child, its pipes, what it produced so far."""

    request_id: Any
    request: RunRequest
    slot: int
    uid: int
    pid: int
    started: float
    deadline: float
    stdin_fd: int | None
    stdin_data: memoryview
    stdout: Capture
    stderr: Capture
    status: Capture
    open_outputs: dict[int, Capture] = field(default_factory=dict)
    wait_status: int | None = None
    cpu_seconds: float = 0.0
    elapsed_ms: int = 0
    timed_out: bool = False
    teardown_requested: bool = False
    teardown_ok: bool | None = None

    @property
    def finished(self) -> bool:
        return self.wait_status is not None and self.teardown_ok is not None


class ForkServer:
    """The event loop: requests in, one child per run, results out."""

    def __init__(
        self,
        control: socket.socket,
        scratch_root: str,
        uid_base: int,
        slots: int,
        use_namespaces: bool,
        janitor: Janitor,
        import_handles: tuple[int, ...] = (),
    ) -> None:
        self._control = control
        self._scratch_root = scratch_root
        self._uid_base = uid_base
        self._free_slots = deque(range(slots))
        self._use_namespaces = use_namespaces
        self._import_handles = import_handles
        self._janitor = janitor
        self._decoder = protocol.FrameDecoder()
        self._selector = selectors.DefaultSelector()
        self._queue: deque[tuple[Any, RunRequest]] = deque()
        self._runs: set[Run] = set()
        self._closing = False
        self._children: dict[int, Run] = {}
        self._sigchld_read, sigchld_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        signal.set_wakeup_fd(sigchld_write, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        namespaces.become_subreaper()

    def serve(self) -> None:
        """Serve until the client closes its end, then end every run in flight."""
        self._selector.register(self._control, selectors.EVENT_READ, ("control", None))
        self._selector.register(self._sigchld_read, selectors.EVENT_READ, ("sigchld", None))
        self._selector.register(self._janitor.socket, selectors.EVENT_READ, ("janitor", None))
        while not self._closing or self._runs:
            for key, _ in self._selector.select(self._next_timeout()):
                kind, run = key.data
                self._dispatch(kind, run, key.fd)
            self._reap_children()
            self._enforce_deadlines()
            for run in [run for run in self._runs if run.finished]:
                self._finish(run)

    # -- requests -------------------------------------------------------------------------

    def _read_control(self) -> None:
        data = self._control.recv(1024 * 1024)
        if not data:
            self._shut_down()
            return
        for message in self._decoder.feed(data):
            request_id = message.get("id")
            try:
                request = RunRequest.from_dict(message["request"])
            except (KeyError, TypeError, ValueError) as error:
                self._send({"id": request_id, "error": f"invalid request: {error}"})
                continue
            self._queue.append((request_id, request))
        self._start_queued()

    def _shut_down(self) -> None:
        self._closing = True
        self._selector.unregister(self._control)
        self._queue.clear()
        for run in list(self._runs):
            run.timed_out = True
            self._start_teardown(run)

    def _start_queued(self) -> None:
        while self._queue and self._free_slots and not self._closing:
            request_id, request = self._queue.popleft()
            slot = self._free_slots.popleft()
            try:
                self._start_run(request_id, request, slot)
            except OSError as error:
                self._free_slots.appendleft(slot)
                self._send({"id": request_id, "error": f"could not start the run: {error}"})

    def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # a gone client shows up as EOF on the next read
            protocol.send(self._control, message)

    # -- starting a run -------------------------------------------------------------------

    def _start_run(self, request_id: Any, request: RunRequest, slot: int) -> None:
        stdin_read, stdin_write = os.pipe2(os.O_CLOEXEC)
        stdout_read, stdout_write = os.pipe2(os.O_CLOEXEC)
        stderr_read, stderr_write = os.pipe2(os.O_CLOEXEC)
        status_read, status_write = os.pipe2(os.O_CLOEXEC)
        uid = self._uid_base + slot
        plan = ChildPlan(
            code=request.code,
            limits=request.limits,
            uid=uid,
            gid=uid,
            scratch_root=self._scratch_root,
            scratch_name=f"run-{uid}-{os.urandom(8).hex()}",
            namespaces=self._use_namespaces,
            stdin_fd=stdin_read,
            stdout_fd=stdout_write,
            stderr_fd=stderr_write,
            status_fd=status_write,
            import_handles=self._import_handles,
        )
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            run_child(plan)
        for descriptor in (stdin_read, stdout_write, stderr_write, status_write):
            os.close(descriptor)
        limits = request.limits
        run = Run(
            request_id=request_id,
            request=request,
            slot=slot,
            uid=uid,
            pid=pid,
            started=started,
            deadline=started + limits.timeout_s,
            stdin_fd=stdin_write,
            stdin_data=memoryview(request.stdin.encode()),
            stdout=Capture.with_cap(limits.output_bytes),
            stderr=Capture.with_cap(limits.output_bytes),
            status=Capture.with_cap(_STATUS_CAP),
        )
        run.open_outputs = {
            stdout_read: run.stdout,
            stderr_read: run.stderr,
            status_read: run.status,
        }
        self._runs.add(run)
        for descriptor in run.open_outputs:
            os.set_blocking(descriptor, False)
            self._selector.register(descriptor, selectors.EVENT_READ, ("output", run))
        os.set_blocking(stdin_write, False)
        self._selector.register(stdin_write, selectors.EVENT_WRITE, ("stdin", run))
        self._children[pid] = run

    # -- events ---------------------------------------------------------------------------

    def _dispatch(self, kind: str, run: Run | None, descriptor: int) -> None:
        if kind == "control":
            self._read_control()
        elif kind == "janitor":
            self._read_janitor()
        elif kind == "sigchld":
            with contextlib.suppress(BlockingIOError):
                os.read(self._sigchld_read, 4096)
        elif kind == "output":
            assert run is not None
            self._read_output(run, descriptor)
        elif kind == "stdin":
            assert run is not None
            self._write_stdin(run)

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
        answer = self._janitor.receive()
        if answer is None:
            raise SandboxError("the janitor closed its socket")
        uid, succeeded = answer
        for run in self._runs:
            if run.uid == uid and run.teardown_requested:
                run.teardown_ok = succeeded

    def _read_output(self, run: Run, descriptor: int) -> None:
        try:
            chunk = os.read(descriptor, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            run.open_outputs[descriptor].add(chunk)
        else:
            self._close_output(run, descriptor)

    def _close_output(self, run: Run, descriptor: int) -> None:
        self._selector.unregister(descriptor)
        os.close(descriptor)
        del run.open_outputs[descriptor]

    def _write_stdin(self, run: Run) -> None:
        assert run.stdin_fd is not None
        try:
            written = os.write(run.stdin_fd, run.stdin_data[:_READ_CHUNK])
        except BlockingIOError:
            return
        except OSError:  # the run closed its stdin: what it did not read is dropped
            written = len(run.stdin_data)
        run.stdin_data = run.stdin_data[written:]
        if not run.stdin_data:
            self._close_stdin(run)

    def _close_stdin(self, run: Run) -> None:
        if run.stdin_fd is not None:
            self._selector.unregister(run.stdin_fd)
            os.close(run.stdin_fd)
            run.stdin_fd = None

    def _on_child_exit(self, run: Run, wait_status: int, usage: resource.struct_rusage) -> None:
        run.elapsed_ms = int((time.monotonic() - run.started) * 1000)
        run.wait_status = wait_status
        run.cpu_seconds = usage.ru_utime + usage.ru_stime
        self._close_stdin(run)
        self._start_teardown(run)

    def _start_teardown(self, run: Run) -> None:
        if not run.teardown_requested:
            run.teardown_requested = True
            self._janitor.request(run.uid)

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for run in self._runs:
            if run.wait_status is None and not run.timed_out and now >= run.deadline:
                run.timed_out = True
                self._start_teardown(run)

    def _next_timeout(self) -> float | None:
        deadlines = [
            run.deadline for run in self._runs if run.wait_status is None and not run.timed_out
        ]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    # -- finishing ------------------------------------------------------------------------

    def _finish(self, run: Run) -> None:
        """Every process of the run is dead: collect the last output, answer, free the uid."""
        self._drain(run)
        self._runs.discard(run)
        if run.teardown_ok:
            self._free_slots.append(run.slot)
        else:
            print(f"sandbox: uid {run.uid} quarantined, its teardown failed", file=sys.stderr)
        assert run.wait_status is not None
        try:
            result = build_result(
                limits=run.request.limits,
                wait_status=run.wait_status,
                cpu_seconds=run.cpu_seconds,
                timed_out=run.timed_out,
                report=ChildReport.parse(bytes(run.status.data)),
                stdout=run.stdout,
                stderr=run.stderr,
                elapsed_ms=run.elapsed_ms,
            )
        except SandboxError as error:
            self._send({"id": run.request_id, "error": str(error)})
        else:
            self._send({"id": run.request_id, "result": result.to_dict()})
        self._start_queued()

    def _drain(self, run: Run) -> None:
        give_up = time.monotonic() + _DRAIN_GRACE_S
        while run.open_outputs and time.monotonic() < give_up:
            for descriptor in list(run.open_outputs):
                try:
                    chunk = os.read(descriptor, _READ_CHUNK)
                except BlockingIOError:
                    chunk = None
                except OSError:
                    chunk = b""
                if chunk:
                    run.open_outputs[descriptor].add(chunk)
                elif chunk is not None:
                    self._close_output(run, descriptor)
            if run.open_outputs:
                time.sleep(0.001)
        for descriptor in list(run.open_outputs):
            self._close_output(run, descriptor)


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
        sweep_uids(arguments.uid_base, arguments.slots, arguments.scratch_root)
        janitor = Janitor.start(arguments.scratch_root)
        import_handles = preload()
    except (OSError, ImportError, SandboxError) as error:
        protocol.send(control, {"ready": False, "error": f"{type(error).__name__}: {error}"})
        raise SystemExit(1) from error
    protocol.send(control, {"ready": True, "pid": os.getpid()})
    ForkServer(
        control,
        scratch_root=arguments.scratch_root,
        uid_base=arguments.uid_base,
        slots=arguments.slots,
        use_namespaces=arguments.namespaces,
        janitor=janitor,
        import_handles=import_handles,
    ).serve()


if __name__ == "__main__":
    main()
