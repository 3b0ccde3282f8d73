"""The CLI in process: typer's CliRunner, REST answers from an httpx MockTransport, and a tiny
WebSocket server on 127.0.0.1 in a thread for the live commands."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result
from websockets.asyncio.server import ServerConnection, serve

from horizon_cli.main import app
from horizon_cli.state import Hooks

Handler = Callable[[httpx.Request], httpx.Response]
WsHandler = Callable[["WsServer", ServerConnection], Awaitable[None]]


@dataclass
class Api:
    """A fake REST API: routes (method, path) → answer, and every request it saw."""

    routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(
        self,
        method: str,
        path: str,
        answer: Any,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer `method path` with `answer`: JSON, or a callable taking the request."""
        self.routes[(method, path)] = (answer, status, headers or {})

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path)
        if key not in self.routes:
            return httpx.Response(404, json={"detail": f"no route {key}"})
        answer, status, headers = self.routes[key]
        if callable(answer):
            return answer(request)
        return httpx.Response(status, json=answer, headers=headers)

    def bodies(self, method: str, path: str) -> list[Any]:
        return [
            json.loads(r.content) for r in self.requests if (r.method, r.url.path) == (method, path)
        ]


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def cli(api: Api, tmp_path: Path) -> Callable[..., Result]:
    """Run `horizon ARGS` against `api` (and `ws_url`, when given); isolated from the
    caller's environment and config file."""

    def run(
        *args: str,
        ws_url: str | None = None,
        env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> Result:
        base_env: dict[str, str | None] = {
            "HORIZON_CONFIG": str(tmp_path / "absent.toml"),
            "HORIZON_URL": "http://api.test",
            "HORIZON_WS_URL": ws_url or "ws://127.0.0.1:9/ws",
            "HORIZON_API_KEY": None,
            "HORIZON_PROFILE": None,
            "COLUMNS": "200",
            **(env or {}),
        }
        hooks = Hooks(transport=httpx.MockTransport(api.handle))
        return CliRunner().invoke(app, list(args), obj=hooks, env=base_env, input=input)

    return run


class WsServer:
    """A WebSocket server on 127.0.0.1 running `handler` per connection, in its own thread."""

    def __init__(self, handler: WsHandler, refuse_with: int | None = None) -> None:
        self.handler = handler
        self.refuse_with = refuse_with
        self.headers: list[Any] = []
        self.received: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self.url = ""

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        self.headers.append(request.headers)  # case-insensitive
        if self.refuse_with:
            return connection.respond(self.refuse_with, "refused\n")
        return None

    async def _main(self) -> None:
        self._stop = self._loop.create_future()

        async def handle(connection: ServerConnection) -> None:
            await self.handler(self, connection)

        async with serve(handle, "127.0.0.1", 0, process_request=self._process_request) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/ws"
            self._ready.set()
            await self._stop

    def __enter__(self) -> WsServer:
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._main(),), daemon=True
        )
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(lambda: self._stop and self._stop.set_result(None))
        self._thread.join(5)

    async def receive(self, connection: ServerConnection) -> dict[str, Any]:
        """The client's next message (recorded in `received`)."""
        message = json.loads(await connection.recv())
        self.received.append(message)
        return message


async def send(connection: ServerConnection, *messages: dict[str, Any]) -> None:
    for message in messages:
        await connection.send(json.dumps(message))


@pytest.fixture
def ws_server() -> Iterator[Callable[..., WsServer]]:
    started: list[WsServer] = []

    def start(handler: WsHandler, refuse_with: int | None = None) -> WsServer:
        server = WsServer(handler, refuse_with)
        started.append(server.__enter__())
        return server

    yield start
    for server in started:
        server.__exit__()
