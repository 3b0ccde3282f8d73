"""API Gateway WebSocket emulation: the connection registry, route selection, one builder per event.

Shapes follow the events API Gateway sends a Lambda proxy integration
(https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-integration-requests.html).
The socket handling itself is in local/gateway/app.py.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_MESSAGE_BYTES = 128 * 1024
IDLE_TIMEOUT_S = 10 * 60.0
HARD_TIMEOUT_S = 2 * 60 * 60.0
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
API_ID = "localwsapi"
STAGE = "local"


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_connection_id() -> str:
    """Return a connection id shaped like API Gateway's ("L0SM9cOFvHcCIhw=").

    Letters and digits only before the padding, so the id is safe in a URL path unquoted.
    """
    raw = base64.b64encode(secrets.token_bytes(11)).decode("ascii")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(c if c.isalnum() or c == "=" else secrets.choice(alphabet) for c in raw)


@dataclass
class Connection:
    """One open WebSocket connection and how to push to it.

    `send` and `close` are coroutines bound to the socket; they run on the gateway's loop.
    """

    connection_id: str
    source_ip: str
    user_agent: str | None
    send: Callable[[str], Awaitable[None]]
    close: Callable[[int, str], Awaitable[None]]
    connected_at: int = field(default_factory=_now_ms)
    last_active_at: int = field(default_factory=_now_ms)
    open: bool = True

    def touch(self) -> None:
        """Record activity: it resets the idle timeout."""
        self.last_active_at = _now_ms()


class ConnectionRegistry:
    """The open connections by id. Used only from the gateway's event loop, so no locking."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}

    def add(self, connection: Connection) -> None:
        self._connections[connection.connection_id] = connection

    def get(self, connection_id: str) -> Connection | None:
        """Return the open connection `connection_id`, or None if unknown or closed."""
        connection = self._connections.get(connection_id)
        return connection if connection is not None and connection.open else None

    def remove(self, connection_id: str) -> Connection | None:
        connection = self._connections.pop(connection_id, None)
        if connection is not None:
            connection.open = False
        return connection

    def __len__(self) -> int:
        return len(self._connections)

    def ids(self) -> list[str]:
        return list(self._connections)


@dataclass(frozen=True)
class Endpoint:
    """Where the WebSocket API is reached: the events' domainName, stage and apiId."""

    domain_name: str
    stage: str = STAGE
    api_id: str = API_ID


def select_route(body: str, routes: Mapping[str, str]) -> str:
    """Return the route key for a message by `$request.body.action`.

    Falls back to "$default" when the body is not a JSON object, has no string `action`, or
    names an action without a route ($connect/$disconnect are never chosen by a message).
    """
    try:
        message = json.loads(body)
    except ValueError:
        return "$default"
    action = message.get("action") if isinstance(message, dict) else None
    if isinstance(action, str) and action in routes and not action.startswith("$"):
        return action
    return "$default"


def connect_status(response: Any) -> int:
    """Return the HTTP status a `$connect` response gives the handshake.

    No response, or one without statusCode, accepts (200); a non-object or an impossible
    status is a bad integration response (502).
    """
    if response is None:
        return 200
    if not isinstance(response, dict):
        return 502
    status = response.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return 502
    return status


def _request_context(
    connection: Connection, endpoint: Endpoint, route_key: str, event_type: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii"),
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "messageDirection": "IN",
        "stage": endpoint.stage,
        "connectedAt": connection.connected_at,
        "requestTimeEpoch": _now_ms(),
        "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
        "requestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii"),
        "domainName": endpoint.domain_name,
        "connectionId": connection.connection_id,
        "apiId": endpoint.api_id,
    }


def build_connect_event(
    connection: Connection,
    endpoint: Endpoint,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
) -> dict[str, Any]:
    """Return the `$connect` event for a handshake with these headers and query parameters.

    Repeated names keep their last value in the single-value maps, as API Gateway does.
    """
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    event: dict[str, Any] = {
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "requestContext": _request_context(connection, endpoint, "$connect", "CONNECT"),
        "isBase64Encoded": False,
    }
    if multi_query:  # API Gateway leaves both keys out when there is no query string
        event["queryStringParameters"] = {n: v[-1] for n, v in multi_query.items()}
        event["multiValueQueryStringParameters"] = multi_query
    return event


def build_message_event(
    connection: Connection, endpoint: Endpoint, body: str, route_key: str
) -> dict[str, Any]:
    """Return the event for one text message routed to `route_key`."""
    context = _request_context(connection, endpoint, route_key, "MESSAGE")
    context["messageId"] = base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii")
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def build_disconnect_event(
    connection: Connection, endpoint: Endpoint, status_code: int, reason: str
) -> dict[str, Any]:
    """Return the `$disconnect` event after the socket closed with `status_code` / `reason`."""
    context = _request_context(connection, endpoint, "$disconnect", "DISCONNECT")
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    headers = {"Host": endpoint.domain_name, "x-api-key": "", "X-Forwarded-For": ""}
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }
