"""An agent task over the WebSocket: run it, stream its output in order, resume after a
dropped connection with `after_seq`, cancel it on request.

Every `output` and the `exit` carry the task's `seq` (1, 2, ...). Messages are written in seq
order exactly once: a seq at or below the last written is a repeat (a replay after a
resubscribe) and is dropped; one ahead of it waits in a small buffer while a resubscribe with
`after_seq` asks the server for the missing ones.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from horizon_cli.errors import Unreachable
from horizon_cli.realtime import (
    IDLE_PING_S,
    Dropped,
    Realtime,
    Socket,
    count_failure,
    server_error,
)

# How long a message ahead of a gap waits for the missing ones after a resubscribe.
GAP_WAIT_S = 2.0

Emit = Callable[[dict[str, Any]], None]
Warn = Callable[[str], None]


class TaskStream:
    """Runs one task and hands its messages, in seq order and once each, to `emit`.

    Args:
        realtime: opens the connections.
        emit: called with each `output` message and finally the `exit` message.
        warn: called with a sentence about a resume, a cancel or a gap.
    """

    def __init__(self, realtime: Realtime, emit: Emit, warn: Warn) -> None:
        self._realtime = realtime
        self._emit = emit
        self._warn = warn
        self.task_id: str | None = None
        self._request_id = uuid.uuid4().hex
        self._last_seq = 0
        self._pending: dict[int, dict[str, Any]] = {}
        self._refill: tuple[int, float] | None = None  # (after_seq asked, deadline)
        self._exit: dict[str, Any] | None = None
        self._socket: Socket | None = None
        self._cancel_requested = False
        self._cancel_sent = False
        self._runs_sent = 0
        self._background: set[asyncio.Task[None]] = set()

    async def run(self, text: str) -> dict[str, Any]:
        """Run `text` as a task; return its `exit` message.

        Raises:
            Unreachable: no connection, or the connection was lost more than RECONNECTS times.
            CliError: the server refused the task (an `error` message).
        """
        failures, connected = 0, False
        while True:
            try:
                async with self._realtime.session() as socket:
                    connected, self._socket = True, socket
                    await self._start(socket, text)
                    await self._pump(socket)
                    return self._exit or {}
            except (Dropped, Unreachable) as error:
                if not connected:
                    raise
                self._warn(f"connection lost ({error}); resuming after seq {self._last_seq}")
                failures = await count_failure(failures, self._realtime, error)
            finally:
                self._socket = None

    @property
    def cancelling(self) -> bool:
        return self._cancel_requested

    def request_cancel(self) -> None:
        """Ask the task to stop (Ctrl-C): sent now if connected, else once reconnected."""
        self._cancel_requested = True
        if self._socket is not None and self.task_id is not None and not self._cancel_sent:
            sending = asyncio.ensure_future(self._send_cancel(self._socket))
            self._background.add(sending)  # a task nobody references may be collected
            sending.add_done_callback(self._background.discard)

    # -- the protocol --------------------------------------------------------------------

    async def _start(self, socket: Socket, text: str) -> None:
        self._pending.clear()
        self._refill = None
        if self.task_id is None:
            # The same request_id after a reconnect names the same task: never run it twice.
            await socket.send({"action": "run", "task": text, "request_id": self._request_id})
            self._runs_sent += 1
        else:
            await self._subscribe(socket)
        if self._cancel_requested and not self._cancel_sent and self.task_id is not None:
            await self._send_cancel(socket)

    async def _subscribe(self, socket: Socket) -> None:
        await socket.send(
            {"action": "subscribe", "task_id": self.task_id, "after_seq": self._last_seq}
        )

    async def _send_cancel(self, socket: Socket) -> None:
        self._cancel_sent = True
        await socket.send({"action": "cancel", "task_id": self.task_id})

    async def _pump(self, socket: Socket) -> None:
        while self._exit is None:
            message = await socket.receive(self._wait_s())
            if message is None:
                await self._on_quiet(socket)
                continue
            kind = message.get("type")
            if kind == "accepted":
                self.task_id = message.get("task_id")
                # A repeated run (same request_id) answers `accepted` without subscribing.
                if self._runs_sent > 1:
                    await self._subscribe(socket)
                if self._cancel_requested and not self._cancel_sent:
                    await self._send_cancel(socket)
            elif kind in ("output", "exit") and isinstance(message.get("seq"), int):
                await self._take(socket, message)
            elif kind == "error":
                if message.get("code") == "unavailable":
                    raise Dropped(str(message.get("message")))
                if message.get("code") == "conflict" and self._cancel_sent:
                    continue  # cancelled just as it ended: its exit follows
                raise server_error(message)

    async def _take(self, socket: Socket, message: dict[str, Any]) -> None:
        seq = message["seq"]
        if seq <= self._last_seq or seq in self._pending:
            return
        self._pending[seq] = message
        self._drain()
        if self._pending and self._refill is None:
            self._refill = (self._last_seq, time.monotonic() + GAP_WAIT_S)
            await self._subscribe(socket)

    def _drain(self) -> None:
        while self._last_seq + 1 in self._pending:
            self._last_seq += 1
            message = self._pending.pop(self._last_seq)
            if message["type"] == "exit":
                self._exit = message
                self._pending.clear()
            self._emit(message)
        if not self._pending or (self._refill and self._refill[0] != self._last_seq):
            self._refill = None

    def _wait_s(self) -> float:
        if self._refill is None:
            return IDLE_PING_S
        return max(0.05, self._refill[1] - time.monotonic())

    async def _on_quiet(self, socket: Socket) -> None:
        if self._refill is None or time.monotonic() < self._refill[1]:
            await socket.send({"action": "ping"})
            return
        # The server could not fill the gap (a chunk stored but never pushed and since
        # expired): go on from the next message there is, and say so.
        first = min(self._pending)
        self._warn(f"output seq {self._last_seq + 1}–{first - 1} of the task is missing")
        self._last_seq = first - 1
        self._refill = None
        self._drain()
