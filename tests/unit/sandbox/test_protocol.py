"""The length-prefixed JSON framing between client and server."""

from __future__ import annotations

import os
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


def test_the_code_is_read_off_the_front_of_stdin_and_the_rest_is_left() -> None:
    read_end, write_end = os.pipe()
    code = "print('é')\n\udcff"  # a lone surrogate survives too
    os.write(write_end, protocol.run_input(code, "the stdin\n"))
    os.close(write_end)

    assert protocol.read_code(read_end) == code
    assert os.read(read_end, 100) == b"the stdin\n"
    os.close(read_end)


def test_code_cut_short_is_an_error() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, protocol.run_input("print(1)", "")[:-1])
    os.close(write_end)

    with pytest.raises(protocol.ProtocolError):
        protocol.read_code(read_end)
    os.close(read_end)


def test_descriptors_travel_with_their_message() -> None:
    left, right = socket.socketpair()
    read_end, write_end = os.pipe()
    with left, right:
        protocol.send_with_descriptors(left, {"id": 1}, [write_end])
        os.close(write_end)
        data, descriptors, _, _ = socket.recv_fds(right, 1024, 4)

    assert protocol.FrameDecoder().feed(data) == [{"id": 1}]
    os.write(descriptors[0], b"through the passed end")
    os.close(descriptors[0])
    assert os.read(read_end, 100) == b"through the passed end"
    os.close(read_end)
