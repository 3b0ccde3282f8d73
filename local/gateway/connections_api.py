"""The `@connections` management API, as boto3's `apigatewaymanagementapi` client speaks it.

Served at `/@connections/{id}` and `/{stage}/@connections/{id}`: POST pushes the body to the
socket as one text frame, GET describes the connection (the wire format is camelCase: connectedAt, identity.sourceIp...),
DELETE closes it. An unknown or closed
connection answers 410 with `x-amzn-ErrorType: GoneException`, which boto3 raises as
`client.exceptions.GoneException`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import unquote

from local.gateway.rest import HttpResponse
from local.gateway.websocket import MAX_MESSAGE_BYTES, ConnectionRegistry

_PATH = re.compile(r"^(?:/[^/@]+)?/@connections/([^/]+)/?$")


def connection_id_from_path(raw_path: str) -> str | None:
    """Return the connection id in a `@connections` path, or None if it is not one."""
    match = _PATH.match(raw_path)
    return unquote(match.group(1)) if match else None


def is_connections_path(raw_path: str) -> bool:
    """Return whether the path belongs to the `@connections` API (even if malformed)."""
    return "/@connections" in raw_path.split("?", 1)[0]


def _error(status: int, error_type: str, message: str) -> HttpResponse:
    body = json.dumps({"message": message}).encode()
    return HttpResponse(
        status,
        [
            ("content-type", "application/json"),
            ("x-amzn-errortype", error_type),
            ("content-length", str(len(body))),
        ],
        body,
    )


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def handle(
    registry: ConnectionRegistry, method: str, raw_path: str, body: bytes
) -> HttpResponse:
    """Serve one `@connections` request.

    Args:
        registry: the open connections.
        method: POST, GET or DELETE.
        raw_path: the undecoded request path.
        body: the request body (POST's data).

    Returns:
        200/204 on success; 410 GoneException, 413 PayloadTooLargeException, 400/404/405 for
        requests the API does not know.
    """
    connection_id = connection_id_from_path(raw_path)
    if connection_id is None:
        return _error(404, "NotFoundException", "No @connections resource at this path")
    if method not in ("POST", "GET", "DELETE"):
        return _error(405, "MethodNotAllowedException", f"{method} is not supported")
    if method == "POST" and len(body) > MAX_MESSAGE_BYTES:
        return _error(413, "PayloadTooLargeException", "Message too long")
    connection = registry.get(connection_id)
    if connection is None:
        return _error(410, "GoneException", f"Connection {connection_id} is gone")
    if method == "POST":
        try:
            await connection.send(body.decode("utf-8", errors="replace"))
        except Exception:  # the socket closed under us: exactly what Gone means
            registry.remove(connection_id)
            return _error(410, "GoneException", f"Connection {connection_id} is gone")
        connection.touch()
        return HttpResponse(200, [("content-length", "0")], b"")
    if method == "GET":
        payload = json.dumps(
            {
                # The wire names are camelCase; boto3 presents them as ConnectedAt, Identity...
                "connectedAt": _iso(connection.connected_at),
                "lastActiveAt": _iso(connection.last_active_at),
                "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            }
        ).encode()
        return HttpResponse(
            200,
            [("content-type", "application/json"), ("content-length", str(len(payload)))],
            payload,
        )
    await connection.close(1000, "closed by the @connections API")
    return HttpResponse(204, [], b"")
