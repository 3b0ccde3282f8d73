"""The @connections API: POST pushes a frame, GET describes, DELETE closes, unknown ids are Gone."""

import asyncio
import json

import pytest

from local.gateway import connections_api
from local.gateway.websocket import MAX_MESSAGE_BYTES, Connection, ConnectionRegistry


class FakeSocket:
    def __init__(self):
        self.sent = []
        self.closed = None

    async def send(self, text):
        if self.closed:
            raise ConnectionError("closed")
        self.sent.append(text)

    async def close(self, code, reason):
        self.closed = (code, reason)


def _setup():
    registry = ConnectionRegistry()
    socket = FakeSocket()
    registry.add(
        Connection(
            connection_id="abc=",
            source_ip="127.0.0.1",
            user_agent="ua",
            send=socket.send,
            close=socket.close,
        )
    )
    return registry, socket


def _call(registry, method, path, body=b""):
    return asyncio.run(connections_api.handle(registry, method, path, body))


@pytest.mark.parametrize(
    ("path", "connection_id"),
    [
        ("/@connections/abc%3D", "abc="),
        ("/local/@connections/abc=", "abc="),
        ("/prod/@connections/abc%3D/", "abc="),
        ("/@connections/", None),
        ("/a/b/@connections/x", None),
        ("/api/v1/jobs", None),
    ],
)
def test_connection_id_from_path(path, connection_id):
    assert connections_api.connection_id_from_path(path) == connection_id


def test_post_sends_one_text_frame():
    registry, socket = _setup()
    response = _call(registry, "POST", "/@connections/abc%3D", b'{"type": "pong"}')
    assert response.status == 200
    assert socket.sent == ['{"type": "pong"}']


def test_post_over_128_kb_is_too_large_and_sends_nothing():
    registry, socket = _setup()
    response = _call(registry, "POST", "/@connections/abc=", b"x" * (MAX_MESSAGE_BYTES + 1))
    assert response.status == 413
    assert ("x-amzn-errortype", "PayloadTooLargeException") in response.headers
    assert socket.sent == []


def test_get_describes_the_connection():
    registry, _ = _setup()
    response = _call(registry, "GET", "/local/@connections/abc=")
    assert response.status == 200
    document = json.loads(response.body)
    assert document["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "ua"}
    assert document["connectedAt"].endswith("Z") and document["lastActiveAt"].endswith("Z")


def test_delete_closes_the_socket():
    registry, socket = _setup()
    response = _call(registry, "DELETE", "/@connections/abc=")
    assert response.status == 204
    assert socket.closed is not None and socket.closed[0] == 1000


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_unknown_connection_is_gone(method):
    registry, _ = _setup()
    response = _call(registry, method, "/@connections/nope=", b"{}")
    assert response.status == 410
    assert ("x-amzn-errortype", "GoneException") in response.headers
    assert "message" in json.loads(response.body)


def test_post_to_a_socket_that_just_closed_is_gone_and_forgotten():
    registry, socket = _setup()
    socket.closed = (1006, "")
    response = _call(registry, "POST", "/@connections/abc=", b"{}")
    assert response.status == 410
    assert registry.get("abc=") is None


def test_other_methods_and_paths_are_refused():
    registry, _ = _setup()
    assert _call(registry, "PUT", "/@connections/abc=").status == 405
    assert _call(registry, "GET", "/@connections/").status == 404
