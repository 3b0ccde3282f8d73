"""The client's side of one server process: requests out, answers matched back in.

A request is a run's limits and the child's ends of its pipes (SCM_RIGHTS); its answer says
how the child ended. The code, stdin and output never travel on this socket.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox_task import protocol
from sandbox_task.contract import RunLimits, SandboxError

# How often a caller waiting for a run that is still queued in the server looks again.
_NOT_STARTED_RECHECK_S = 1.0


@dataclass(eq=False)
class PendingAnswer:
    """A request sent to the server, waiting for its answer.

    `wake_fd` (an eventfd) becomes readable when the run starts and when it is settled, so a
    thread waiting on the run's pipes in a selector learns of both without polling; `close`
    releases it. `started_at` is when the server said it forked the run's child (a request
    can wait in the server for a uid whose files are still being removed).
    """

    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] | None = None
    error: str | None = None
    started_at: float | None = None
    wake_fd: int | None = field(
        default_factory=lambda: os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mark_started(self) -> None:
        with self._lock:
            self.started_at = time.monotonic()
            self._wake()

    def settle(self, *, answer: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._lock:
            self.answer, self.error = answer, error
            self.done.set()
            self._wake()

    def _wake(self) -> None:
        # Under _lock: never write to a descriptor number `close` gave back.
        if self.wake_fd is not None:
            os.eventfd_write(self.wake_fd, 1)

    def give_up_at(self, budget_s: float) -> float:
        """When to stop waiting: `budget_s` after the run started; never before it started."""
        started_at = self.started_at
        return math.inf if started_at is None else started_at + budget_s

    def wait(self, budget_s: float) -> bool:
        """Wait for the answer, at most `budget_s` past the start; False if none came."""
        while not self.done.is_set():
            remaining = self.give_up_at(budget_s) - time.monotonic()
            if remaining <= 0:
                return False
            # Not started yet: look again now and then, the start sets no event of its own.
            self.done.wait(min(remaining, _NOT_STARTED_RECHECK_S))
        return True

    def close(self) -> None:
        with self._lock:
            if self.wake_fd is not None:
                os.close(self.wake_fd)
                self.wake_fd = None


class ServerConnection:
    """One server process and the socket to it; a reader thread hands out the answers."""

    def __init__(self, process: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.process = process
        self.server_pid: int | None = None
        self._socket = sock
        self._send_lock = threading.Lock()
        self._pending: dict[int, PendingAnswer] = {}
        self._pending_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._dead: str | None = None
        self._reader: threading.Thread | None = None

    @property
    def dead(self) -> bool:
        return self._dead is not None

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the server's first message; start reading answers after it."""
        self._socket.settimeout(timeout_s)
        try:
            hello = protocol.receive(self._socket)
        except (OSError, protocol.ProtocolError) as error:
            raise SandboxError(f"the sandbox server did not start: {error}") from error
        finally:
            self._socket.settimeout(None)
        if hello is None or not hello.get("ready"):
            detail = (hello or {}).get("error", "it exited")
            raise SandboxError(f"the sandbox server did not start: {detail}")
        self._reader = threading.Thread(target=self._read_answers, daemon=True, name="sandbox")
        self._reader.start()
        return hello

    def submit(self, limits: RunLimits, descriptors: list[int]) -> PendingAnswer:
        """Ask for a run; its child gets `descriptors` (stdin, stdout, stderr, status).

        The caller still owns its copies of the descriptors and closes them once this returns.
        """
        with self._pending_lock:
            if self._dead:
                raise SandboxError(self._dead)
            request_id = next(self._ids)
            pending = PendingAnswer()
            self._pending[request_id] = pending
        message = {"id": request_id, "limits": asdict(limits)}
        try:
            with self._send_lock:
                protocol.send_with_descriptors(self._socket, message, descriptors)
        except (OSError, protocol.ProtocolError) as error:
            self.fail(f"the sandbox server is gone: {error}")
        return pending

    def forget(self, pending: PendingAnswer) -> None:
        with self._pending_lock:
            for request_id, candidate in list(self._pending.items()):
                if candidate is pending:
                    del self._pending[request_id]

    def _read_answers(self) -> None:
        reason = "the sandbox server exited"
        try:
            while (message := protocol.receive(self._socket)) is not None:
                request_id = message.get("id")
                started = message.get("started") is True
                with self._pending_lock:
                    if started:
                        pending = self._pending.get(request_id)  # type: ignore[arg-type]
                    else:
                        pending = self._pending.pop(request_id, None)  # type: ignore[arg-type]
                if pending is not None and started:
                    pending.mark_started()
                elif pending is not None:
                    pending.settle(answer=message)
        except (OSError, protocol.ProtocolError) as error:
            reason = f"the sandbox server connection broke: {error}"
        self.fail(reason)

    def fail(self, reason: str) -> None:
        """Mark the server dead and fail every request still waiting."""
        with self._pending_lock:
            if self._dead is None:
                self._dead = reason
            waiting, self._pending = list(self._pending.values()), {}
        for pending in waiting:
            pending.settle(error=reason)

    def close(self, timeout_s: float = 10.0) -> None:
        """Close the socket (the server then ends its runs and exits) and reap the server."""
        self.fail("the sandbox was closed")
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=timeout_s)
