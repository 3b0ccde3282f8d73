"""The gateway's ASGI app: REST proxy, WebSocket API and `@connections` on one port.

Every handler runs in a worker thread, never on the event loop: a handler that calls the
`@connections` API of this very server must find the loop free to answer it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from horizon import wiring
from local.gateway import connections_api
from local.gateway.rest import (
    INTEGRATION_TIMEOUT_S,
    MAX_REQUEST_BYTES,
    HttpRequest,
    HttpResponse,
    MalformedResponseError,
    build_rest_event,
    json_error,
    map_proxy_response,
)
from local.gateway.websocket import (
    CLOSE_GOING_AWAY,
    CLOSE_TOO_BIG,
    HARD_TIMEOUT_S,
    IDLE_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    Connection,
    ConnectionRegistry,
    Endpoint,
    build_connect_event,
    build_disconnect_event,
    build_message_event,
    connect_status,
    new_connection_id,
    select_route,
)
from local.lambda_runtime import Runtime

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

HEALTH_PATH = "/_local/health"
_WS_PATH = re.compile(r"^/ws(?:/task|/jobs/(?P<job_id>[^/]+))?/?$")
# Draining an oversized body (rather than hanging up mid-upload) lets the client read the 413.
_DRAIN_LIMIT = 64 * 1024 * 1024
_CLOSE_HANDSHAKE_S = 5.0


class GatewayApp:
    """API Gateway (REST + WebSocket + `@connections`) in front of the local functions.

    Args:
        runtime: invokes functions by wiring key.
        health: returns the `/_local/health` document (runs in a worker thread).
        routes: WebSocket route key → function key.
        rest_function: the function behind every REST path.
        integration_timeout_s: REST answers 504 after this.
        idle_timeout_s, hard_timeout_s: WebSocket limits (close 1001 when reached).
        max_request_bytes: REST answers 413 above this.
        workers: worker threads for handlers.
    """

    def __init__(
        self,
        runtime: Runtime,
        health: Callable[[], dict[str, Any]] | None = None,
        routes: Mapping[str, str] = wiring.WEBSOCKET_ROUTES,
        rest_function: str = wiring.REST_FUNCTION,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        hard_timeout_s: float = HARD_TIMEOUT_S,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        workers: int = 64,
    ) -> None:
        self.runtime = runtime
        self.health = health or (lambda: {"status": "ok"})
        self.routes = dict(routes)
        self.rest_function = rest_function
        self.integration_timeout_s = integration_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.hard_timeout_s = hard_timeout_s
        self.max_request_bytes = max_request_bytes
        self.registry = ConnectionRegistry()
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    def _invoke(self, key: str, event: dict[str, Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.executor, self.runtime.invoke, key, event)

    # ---- HTTP: health, @connections, REST proxy -------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        body, too_long = await _read_body(receive, self.max_request_bytes)
        if scope["path"] == HEALTH_PATH:
            document = await asyncio.get_running_loop().run_in_executor(self.executor, self.health)
            payload = json.dumps(document).encode()
            status = 200 if document.get("status") == "ok" else 503
            response = HttpResponse(status, [("content-type", "application/json")], payload)
        elif connections_api.is_connections_path(raw_path):
            response = await connections_api.handle(self.registry, scope["method"], raw_path, body)
        elif too_long:
            response = json_error(413, "Request Too Long")
        else:
            response = await self._rest(scope, body)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": _encode(response.headers),
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _rest(self, scope: Scope, body: bytes) -> HttpResponse:
        request = HttpRequest(
            method=scope["method"],
            path=scope["path"],
            query_string=scope.get("query_string", b""),
            headers=_decode(scope["headers"]),
            body=body,
            source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
            host=_domain(scope),
        )
        event = build_rest_event(request)
        try:
            result = await asyncio.wait_for(
                self._invoke(self.rest_function, event), self.integration_timeout_s
            )
            return map_proxy_response(result)
        except TimeoutError:
            log.error("%s %s: integration timed out", request.method, request.path)
            return json_error(504, "Endpoint request timed out")
        except MalformedResponseError:
            log.exception("%s %s: malformed Lambda proxy response", request.method, request.path)
        except Exception:  # the handler raised: log it here, never send it to the client
            log.exception("%s %s: handler failed", request.method, request.path)
        return json_error(502, "Internal server error")

    # ---- WebSocket ------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _WS_PATH.match(scope["path"])
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if match is None:
            await _reject(scope, send, 404, {"message": "Not Found"})
            return
        headers = _decode(scope["headers"])
        query = parse_qsl(
            scope.get("query_string", b"").decode("utf-8", errors="replace"), keep_blank_values=True
        )
        if match.group("job_id"):
            query.append(("job_id", match.group("job_id")))
        session = _Session(send)
        user_agent = next((v for n, v in headers if n == "user-agent"), None)
        connection = Connection(
            connection_id=new_connection_id(),
            source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
            user_agent=user_agent,
            send=session.send_text,
            close=session.close,
        )
        endpoint = Endpoint(domain_name=_domain(scope))
        accepted = await self._connect(scope, send, connection, endpoint, headers, query)
        if not accepted:
            return
        self.registry.add(connection)
        try:
            await self._serve(receive, session, connection, endpoint)
        finally:
            self.registry.remove(connection.connection_id)
            code, reason = session.close_code or 1006, session.close_reason
            event = build_disconnect_event(connection, endpoint, code, reason)
            try:  # $disconnect is best effort, as in API Gateway
                await asyncio.wait_for(
                    self._invoke(self.routes["$disconnect"], event), self.integration_timeout_s
                )
            except Exception:
                log.exception("$disconnect handler failed for %s", connection.connection_id)

    async def _connect(
        self,
        scope: Scope,
        send: Send,
        connection: Connection,
        endpoint: Endpoint,
        headers: list[tuple[str, str]],
        query: list[tuple[str, str]],
    ) -> bool:
        event = build_connect_event(connection, endpoint, headers, query)
        try:
            result = await asyncio.wait_for(
                self._invoke(self.routes["$connect"], event), self.integration_timeout_s
            )
        except Exception:
            log.exception("$connect handler failed")
            await _reject(scope, send, 500, {"message": "Internal server error"})
            return False
        status = connect_status(result)
        if not 200 <= status < 300:
            body = result.get("body") if isinstance(result, dict) else None
            await _reject(scope, send, status, body or {"message": "Forbidden"})
            return False
        accept: dict[str, Any] = {"type": "websocket.accept"}
        response = result if isinstance(result, dict) else {}
        response_headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        if "sec-websocket-protocol" in response_headers:
            accept["subprotocol"] = response_headers["sec-websocket-protocol"]
        await send(accept)
        return True

    async def _serve(
        self, receive: Receive, session: _Session, connection: Connection, endpoint: Endpoint
    ) -> None:
        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        while True:
            if session.close_code is not None:
                wait = _CLOSE_HANDSHAKE_S  # we closed: only the client's close frame is awaited
            else:
                wait = min(self._idle_left(connection), self._hard_left(started))
            try:
                message = await asyncio.wait_for(receive(), max(0.0, wait))
            except TimeoutError:
                if session.close_code is not None:
                    return
                if self._idle_left(connection) > 0 and self._hard_left(started) > 0:
                    continue  # a push through @connections reset the idle clock meanwhile
                reason = "Going away" if self._hard_left(started) <= 0 else "Idle timeout"
                await session.close(CLOSE_GOING_AWAY, reason)
                continue
            if message["type"] == "websocket.disconnect":
                if session.close_code is None:
                    session.close_code = message.get("code", 1005)
                    session.close_reason = message.get("reason") or ""
                return
            if session.close_code is not None:
                continue  # frames that crossed our close frame are dropped, as a closing socket does
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
            if len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
                await session.close(CLOSE_TOO_BIG, "Message too big")
                continue
            connection.touch()
            route = select_route(text, self.routes)
            event = build_message_event(connection, endpoint, text, route)
            task = asyncio.create_task(self._message(session, connection, route, event))
            pending.add(task)
            task.add_done_callback(pending.discard)

    def _idle_left(self, connection: Connection) -> float:
        return self.idle_timeout_s - (time.time() * 1000 - connection.last_active_at) / 1000

    def _hard_left(self, started: float) -> float:
        return self.hard_timeout_s - (time.monotonic() - started)

    async def _message(
        self, session: _Session, connection: Connection, route: str, event: dict[str, Any]
    ) -> None:
        # The return value is ignored: without route responses API Gateway sends nothing back.
        try:
            await asyncio.wait_for(
                self._invoke(self.routes[route], event), self.integration_timeout_s
            )
        except Exception:
            log.exception("route %s failed for %s", route, connection.connection_id)
            # What API Gateway itself sends the client when the integration fails.
            error = {
                "message": "Internal server error",
                "connectionId": connection.connection_id,
                "requestId": event["requestContext"]["requestId"],
            }
            try:
                await session.send_text(json.dumps(error))
            except Exception:  # the socket is already gone
                log.debug("could not report the failure to %s", connection.connection_id)


class _Session:
    """The sending half of one socket, and how it was closed."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.close_code: int | None = None
        self.close_reason = ""

    async def send_text(self, text: str) -> None:
        if self.close_code is not None:
            raise ConnectionError("connection closed")
        await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str) -> None:
        if self.close_code is not None:
            return
        self.close_code, self.close_reason = code, reason
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """Return the request body and whether it exceeded `limit` (then the body is dropped)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif chunks:
            chunks = []
        if not message.get("more_body") or size > _DRAIN_LIMIT:
            break
    return (b"".join(chunks), False) if size <= limit else (b"", True)


async def _reject(scope: Scope, send: Send, status: int, body: Any) -> None:
    """Refuse a WebSocket handshake with an HTTP status (403 if the server cannot say more)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": payload})
    else:
        await send({"type": "websocket.close", "code": 1008})


def _domain(scope: Scope) -> str:
    host, port = scope.get("server") or ("127.0.0.1", 0)
    return f"{host}:{port}"


def _decode(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in headers]


def _encode(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
