"""The WebSocket client: one connection at a time, errors turned into `CliError`s, and
`follow`, which watches a subscription (a job, a batch) across dropped connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from horizon_cli.errors import ApiError, CliError, NotFound, Refused, Unreachable, UsageProblem

# API Gateway closes a connection idle for 10 minutes; an application ping well before that
# keeps a quiet watch alive (control-frame pings do not count as activity there).
IDLE_PING_S = 240.0
RECONNECTS = 5
# Progress is pushed at steps (every tenth of a batch): after this long without a message,
# `follow` asks the REST API instead.
POLL_EVERY_S = 5.0
POLL_FALLBACK_S = 1.0  # without any WebSocket connection
# AWS's cap on a WebSocket message (frames are 32 KB); the local stack has the same.
MAX_MESSAGE_BYTES = 128 * 1024


class Dropped(Exception):
    """The connection ended before the watch did: reconnect and resume."""


class Socket:
    """A connected WebSocket that speaks JSON objects."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection

    async def send(self, message: dict[str, Any]) -> None:
        try:
            await self._connection.send(json.dumps(message))
        except ConnectionClosed as error:
            raise Dropped(str(error)) from error

    async def receive(self, timeout_s: float | None) -> dict[str, Any] | None:
        """The next message, or None when none came within `timeout_s`.

        Raises:
            Dropped: the connection closed.
        """
        try:
            async with asyncio.timeout(timeout_s):
                frame = await self._connection.recv()
        except TimeoutError:
            return None
        except ConnectionClosed as error:
            raise Dropped(str(error)) from error
        try:
            message = json.loads(frame)
        except ValueError:
            return {"type": "unreadable"}
        return message if isinstance(message, dict) else {"type": "unreadable"}


class Realtime:
    """Opens WebSocket connections to the API with the credential.

    Args:
        url: the WebSocket URL (`ws_url` of the configuration).
        api_key: sent as `Authorization: Bearer` at `$connect`.
        open_timeout_s: how long the handshake may take.
    """

    def __init__(self, url: str, api_key: str | None, open_timeout_s: float = 10.0) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._open_timeout_s = open_timeout_s

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Socket]:
        """A connection for the block.

        Raises:
            Refused: the handshake was refused with 401/403.
            Unreachable: no connection (server down, wrong URL, timeout).
        """
        try:
            connection = await connect(
                self.url,
                additional_headers=self._headers,
                open_timeout=self._open_timeout_s,
                max_size=MAX_MESSAGE_BYTES,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            if status in (401, 403):
                raise Refused(
                    f"the WebSocket API at {self.url} refused the credential ({status}). "
                    "Set --api-key, HORIZON_API_KEY or api_key in the profile (and for a "
                    "deployed stack --ws-url: its WebSocketUrl output)"
                ) from error
            raise ApiError(
                f"the WebSocket API at {self.url} answered {status} at connect "
                "(is --ws-url / HORIZON_WS_URL right?)",
                status,
            ) from error
        except InvalidURI as error:
            raise UsageProblem(f"not a WebSocket URL: {self.url}") from error
        except (OSError, TimeoutError, InvalidHandshake) as error:
            reason = str(error) or type(error).__name__
            raise Unreachable(f"cannot reach {self.url}: {reason}") from error
        try:
            yield Socket(connection)
        finally:
            await connection.close()


def server_error(message: dict[str, Any]) -> CliError:
    """The `CliError` for an `{"type": "error"}` message (`unavailable` is handled by callers)."""
    text = str(message.get("message") or message.get("code") or "error")
    if message.get("code") == "not_found":
        return NotFound(text)
    return ApiError(f"the WebSocket API said: {text} ({message.get('code')})", 400)


async def backoff(failures: int) -> None:
    await asyncio.sleep(min(0.25 * 2**failures, 5.0))


async def follow(
    realtime: Realtime,
    subscribe: dict[str, Any],
    handle: Callable[[dict[str, Any]], bool],
    poll: Callable[[], bool] | None = None,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Subscribe, then give each message to `handle` until it returns True.

    After a dropped connection it reconnects and subscribes again: a subscriber first gets
    the current state, so nothing is missed; `handle` drops what it saw (by `seq`). When no
    message comes for POLL_EVERY_S, `poll` (if any) is asked whether the work is done:
    progress is pushed at steps, and a poll also records a batch's completion. When no
    connection can be opened at all, `poll` alone follows the work (a deployed stack's
    WebSocket URL is not derived from its REST URL: a missing `ws_url` must not stop a watch).

    Raises:
        Unreachable: the connection could not be made (and no `poll`) or was lost more than
            RECONNECTS times.
        NotFound / ApiError: the server refused the subscription.
    """
    failures, connected = 0, False
    while True:
        try:
            async with realtime.session() as socket:
                connected = True
                await socket.send(subscribe)
                if await _pump(socket, handle, poll, POLL_EVERY_S):
                    return
        except (Refused, ApiError, Unreachable) as error:
            if connected and isinstance(error, Unreachable):
                failures = await count_failure(failures, realtime, error)
                continue
            if connected or poll is None:
                raise
            if warn is not None:
                warn(f"{error.message}; polling the REST API instead")
            while not poll():
                await asyncio.sleep(POLL_FALLBACK_S)
            return
        except Dropped as error:
            failures = await count_failure(failures, realtime, error)


async def count_failure(failures: int, realtime: Realtime, error: Exception) -> int:
    """Count one more lost connection and wait before the next try; return the count.

    Raises:
        Unreachable: more than RECONNECTS in a row.
    """
    failures += 1
    if failures > RECONNECTS:
        raise Unreachable(f"lost the WebSocket connection to {realtime.url}") from error
    await backoff(failures)
    return failures


async def _pump(
    socket: Socket,
    handle: Callable[[dict[str, Any]], bool],
    poll: Callable[[], bool] | None,
    poll_every_s: float,
) -> bool:
    quiet_s = 0.0
    wait_s = poll_every_s if poll else IDLE_PING_S
    while True:
        message = await socket.receive(wait_s)
        if message is None:
            quiet_s += wait_s
            if poll is not None and poll():
                return True
            if quiet_s >= IDLE_PING_S:
                await socket.send({"action": "ping"})
                quiet_s = 0.0
            continue
        quiet_s = 0.0
        kind = message.get("type")
        if kind == "error":
            if message.get("code") in ("unavailable", "gone"):
                raise Dropped(str(message.get("message")))
            raise server_error(message)
        if kind in ("pong", "unreadable"):
            continue
        if handle(message):
            return True
