"""The client's side of one server process: requests out, answers matched back in."""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox_task import protocol
from sandbox_task.contract import RunRequest, SandboxError


@dataclass(eq=False)
class PendingAnswer:
    """A request sent to the server, waiting for its answer."""

    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] | None = None
    error: str | None = None


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

    def submit(self, request: RunRequest) -> PendingAnswer:
        pending = PendingAnswer()
        with self._pending_lock:
            if self._dead:
                raise SandboxError(self._dead)
            request_id = next(self._ids)
            self._pending[request_id] = pending
        try:
            with self._send_lock:
                protocol.send(self._socket, {"id": request_id, "request": request.to_dict()})
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
                with self._pending_lock:
                    pending = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
                if pending is not None:
                    pending.answer = message
                    pending.done.set()
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
            pending.error = reason
            pending.done.set()

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
