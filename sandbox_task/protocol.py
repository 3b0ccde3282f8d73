"""The framing between the client and the fork server: length-prefixed JSON messages.

The server talks to its client on a socket of its own (never the children's stdout), so
nothing a run prints can be mistaken for a message. Each message is a 4-byte big-endian length
followed by that many bytes of UTF-8 JSON.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_HEADER = struct.Struct(">I")
# A request carries code and stdin, a result carries two capped outputs: far below this.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


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
