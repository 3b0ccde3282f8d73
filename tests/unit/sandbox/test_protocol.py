"""The length-prefixed JSON framing between client and server."""

from __future__ import annotations

import socket
import struct

import pytest

from sandbox_task import protocol


def test_messages_survive_arbitrary_chunking() -> None:
    messages = [{"id": 1, "request": {"code": "print('é')"}}, {"id": 2, "x": [1, 2]}]
    stream = b"".join(protocol.encode(message) for message in messages)
    decoder = protocol.FrameDecoder()

    received = []
    for index in range(len(stream)):
        received += decoder.feed(stream[index : index + 1])

    assert received == messages


def test_a_socket_round_trip_and_a_clean_end() -> None:
    left, right = socket.socketpair()
    with left, right:
        protocol.send(left, {"ready": True})
        left.shutdown(socket.SHUT_WR)

        assert protocol.receive(right) == {"ready": True}
        assert protocol.receive(right) is None


def test_an_end_inside_a_message_is_an_error() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(protocol.encode({"a": 1})[:-2])
        left.shutdown(socket.SHUT_WR)

        with pytest.raises(protocol.ProtocolError):
            protocol.receive(right)


@pytest.mark.parametrize(
    "frame",
    [
        struct.pack(">I", protocol.MAX_MESSAGE_BYTES + 1),
        struct.pack(">I", 3) + b"[1]",
        struct.pack(">I", 2) + b"{x",
    ],
)
def test_malformed_frames_are_rejected(frame: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.FrameDecoder().feed(frame)
