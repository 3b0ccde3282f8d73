"""WebSocket routes: picks the call by `requestContext.eventType` and `routeKey`.

CONNECT → `WebSocketService.connect` (its status accepts or refuses the connection),
DISCONNECT → `disconnect`, MESSAGE → `message` (subscribe, ping, $default).
"""

from __future__ import annotations

from typing import Any

from horizon import correlation, observability
from horizon.realtime import ConnectRequest, WebSocketService

logger = observability.logger("websocket")


def _service() -> WebSocketService:
    # Cheap to build (clients are shared by horizon.aws); built per event so nothing about one
    # invocation's configuration outlives it.
    return WebSocketService()


def _connect(event: dict[str, Any], connection_id: str) -> int:
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    query = dict(event.get("queryStringParameters") or {})
    return _service().connect(ConnectRequest(connection_id, headers, query))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    context_ = event["requestContext"]
    event_type, connection_id = context_["eventType"], context_["connectionId"]
    logger.append_keys(connection_id=connection_id, route=context_.get("routeKey"))
    # The event's id follows what it starts (an agent task's container, its queue messages).
    with correlation.bound(context_.get("requestId")):
        return _route(event, event_type, connection_id, context_)


def _route(
    event: dict[str, Any], event_type: str, connection_id: str, context_: dict[str, Any]
) -> dict[str, Any]:
    if event_type == "CONNECT":
        return {"statusCode": _connect(event, connection_id)}
    if event_type == "DISCONNECT":
        _service().disconnect(connection_id)
    elif event_type == "MESSAGE":
        _service().message(connection_id, context_.get("routeKey", "$default"), event.get("body"))
    else:
        logger.warning("unexpected WebSocket event type %s", event_type)
        return {"statusCode": 400}
    return {"statusCode": 200}
