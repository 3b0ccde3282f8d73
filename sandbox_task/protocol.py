"""The framing between the client and the fork server: length-prefixed JSON messages.

The server talks to its client on a socket of its own (never the children's stdout), so
nothing a run prints can be mistaken for a message. Each message is a 4-byte big-endian length
followed by that many bytes of UTF-8 JSON. A run request also carries the child's ends of the
run's pipes as SCM_RIGHTS descriptors, attached to the message's bytes.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

_HEADER = struct.Struct(">I")
# Requests and endings are a few hundred bytes (code and output travel on the run's pipes).
MAX_MESSAGE_BYTES = 1024 * 1024
# The descriptors of one run request, in this order: stdin, stdout, stderr, status.
RUN_DESCRIPTORS = 4


class ProtocolError(Exception):
    """The peer sent something that is not a message, or went away mid-message."""


def encode(message: dict[str, Any]) -> bytes:
    """Return the framed bytes of one message."""
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(body)} bytes is too large")
    return _HEADER.pack(len(body)) + body


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    """Send one message on a blocking socket."""
    sock.sendall(encode(message))


def send_with_descriptors(
    sock: socket.socket, message: dict[str, Any], descriptors: list[int]
) -> None:
    """Send one message on a blocking socket with `descriptors` attached to its first bytes."""
    data = encode(message)
    sent = socket.send_fds(sock, [data], descriptors)
    if sent < len(data):
        sock.sendall(data[sent:])


def run_input(code: str, stdin: str) -> bytes:
    """What the client writes into a run's stdin pipe: the code, length first, then stdin.

    The child reads the code off the front (`read_code`) before the user's first line, so
    the code travels from the client straight to the child, never through the server.
    """
    code_bytes = code.encode("utf-8", "surrogatepass")
    return _HEADER.pack(len(code_bytes)) + code_bytes + stdin.encode("utf-8", "surrogatepass")


def read_code(descriptor: int) -> str:
    """Read the code off the front of a run's stdin (unbuffered: the rest stays for the run).

    Raises:
        ProtocolError: the pipe ended before the whole code arrived.
    """
    (length,) = _HEADER.unpack(_read_descriptor_exactly(descriptor, _HEADER.size))
    return _read_descriptor_exactly(descriptor, length).decode("utf-8", "surrogatepass")


def _read_descriptor_exactly(descriptor: int, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(descriptor, min(size - len(chunks), 1024 * 1024))
        if not chunk:
            raise ProtocolError("the code ended early")
        chunks += chunk
    return bytes(chunks)


def receive(sock: socket.socket) -> dict[str, Any] | None:
    """Read one message from a blocking socket; None at a clean end of stream.

    Raises:
        ProtocolError: the stream ended inside a message or the message is not valid.
    """
    header = _read_exactly(sock, _HEADER.size, allow_eof=True)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"announced message of {length} bytes is too large")
    body = _read_exactly(sock, length, allow_eof=False)
    assert body is not None
    return _decode(body)


class FrameDecoder:
    """Splits a byte stream arriving in arbitrary chunks (non-blocking reads) into messages."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add received bytes; return every message they complete."""
        self._buffer += data
        messages = []
        while len(self._buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._buffer)
            if length > MAX_MESSAGE_BYTES:
                raise ProtocolError(f"announced message of {length} bytes is too large")
            end = _HEADER.size + length
            if len(self._buffer) < end:
                break
            messages.append(_decode(bytes(self._buffer[_HEADER.size : end])))
            del self._buffer[:end]
        return messages


def _decode(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError as error:
        raise ProtocolError(f"message is not JSON: {error}") from error
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    return message


def _read_exactly(sock: socket.socket, size: int, *, allow_eof: bool) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1024 * 1024))
        if not chunk:
            if allow_eof and not chunks:
                return None
            raise ProtocolError("the stream ended inside a message")
        chunks += chunk
    return bytes(chunks)
