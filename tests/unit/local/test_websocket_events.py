"""WebSocket emulation: one builder per event type, route selection, the connection registry."""

import json
import re

import pytest

from horizon import wiring
from local.gateway.websocket import (
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
from tests.events import load_event

ENDPOINT = Endpoint(domain_name="127.0.0.1:8000")


async def _noop(*_args):
    return None


def _connection(connection_id="L0SM9cOFvHcCIhw="):
    return Connection(
        connection_id=connection_id,
        source_ip="127.0.0.1",
        user_agent="pytest",
        send=_noop,
        close=_noop,
    )


def _assert_shape(event, sample):
    assert set(event) == set(sample)
    assert set(event["requestContext"]) == set(sample["requestContext"])


def test_connect_event():
    connection = _connection()
    event = build_connect_event(
        connection,
        ENDPOINT,
        headers=[("host", "127.0.0.1:8000"), ("x-a", "1"), ("x-a", "2")],
        query=[("job_id", "j1"), ("token", "t")],
    )
    _assert_shape(event, load_event("local_ws_connect"))
    context = event["requestContext"]
    assert context["eventType"] == "CONNECT"
    assert context["routeKey"] == "$connect"
    assert context["connectionId"] == "L0SM9cOFvHcCIhw="
    assert context["domainName"] == "127.0.0.1:8000"
    assert context["stage"] == "local"
    assert context["connectedAt"] == connection.connected_at
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["x-a"] == "2"
    assert event["multiValueHeaders"]["x-a"] == ["1", "2"]
    assert event["queryStringParameters"] == {"job_id": "j1", "token": "t"}
    assert event["multiValueQueryStringParameters"]["job_id"] == ["j1"]


def test_connect_event_without_query_string_has_no_query_keys():
    event = build_connect_event(_connection(), ENDPOINT, headers=[("host", "h")], query=[])
    assert "queryStringParameters" not in event
    assert "multiValueQueryStringParameters" not in event


def test_message_event():
    body = json.dumps({"action": "subscribe", "job_id": "j1"})
    event = build_message_event(_connection(), ENDPOINT, body, "subscribe")
    _assert_shape(event, load_event("local_ws_message"))
    assert event["body"] == body
    assert event["requestContext"]["eventType"] == "MESSAGE"
    assert event["requestContext"]["routeKey"] == "subscribe"
    assert event["requestContext"]["messageId"]
    other = build_message_event(_connection(), ENDPOINT, body, "subscribe")
    assert other["requestContext"]["messageId"] != event["requestContext"]["messageId"]
    assert other["requestContext"]["requestId"] != event["requestContext"]["requestId"]


def test_disconnect_event():
    event = build_disconnect_event(_connection(), ENDPOINT, 1001, "Going away")
    _assert_shape(event, load_event("local_ws_disconnect"))
    context = event["requestContext"]
    assert context["eventType"] == "DISCONNECT"
    assert context["routeKey"] == "$disconnect"
    assert context["disconnectStatusCode"] == 1001
    assert context["disconnectReason"] == "Going away"


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action": "subscribe", "job_id": "j"}', "subscribe"),
        ('{"action": "ping"}', "ping"),
        ('{"action": "dance", "task": "x"}', "$default"),  # no such route
        ('{"action": "run", "task": "x"}', "run"),
        ('{"task": "hello"}', "$default"),
        ('{"action": 5}', "$default"),
        ('{"action": "$connect"}', "$default"),
        ('["subscribe"]', "$default"),
        ("not json", "$default"),
        ("", "$default"),
    ],
)
def test_route_selection(body, route):
    assert select_route(body, wiring.WEBSOCKET_ROUTES) == route


def test_connection_ids_look_like_api_gateways_and_are_unique():
    ids = {new_connection_id() for _ in range(500)}
    assert len(ids) == 500
    for connection_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9]{15}=", connection_id)


def test_registry_forgets_removed_and_closed_connections():
    registry = ConnectionRegistry()
    first, second = _connection("a"), _connection("b")
    registry.add(first)
    registry.add(second)
    assert registry.get("a") is first and len(registry) == 2
    assert registry.remove("a") is first
    assert first.open is False
    assert registry.get("a") is None
    second.open = False
    assert registry.get("b") is None
    assert registry.get("unknown") is None
    assert registry.remove("unknown") is None


@pytest.mark.parametrize(
    ("response", "status"),
    [
        (None, 200),
        ({}, 200),
        ({"statusCode": 200}, 200),
        ({"statusCode": "204"}, 204),
        ({"statusCode": 401, "body": "no"}, 401),
        ({"statusCode": 403}, 403),
        ({"statusCode": "x"}, 502),
        ({"statusCode": 7}, 502),
        ("accepted", 502),
    ],
)
def test_connect_status(response, status):
    assert connect_status(response) == status
