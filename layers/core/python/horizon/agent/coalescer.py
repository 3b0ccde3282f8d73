"""Coalescing raw output into chunks: by age (about 100 ms) or size (16 KB), in arrival order.

Pushes cost money and API Gateway rate, so output is batched; a reader still sees a line
about a flush interval after it was printed. Bytes are kept raw: a chunk that is not valid
UTF-8 travels base64 (see `encode_data`), and a multi-byte character cut by a chunk
boundary is carried to the next chunk of its stream rather than sent broken.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

from horizon.agent.models import Stream

Sink = Callable[[Stream, bytes], None]


def split_incomplete_utf8(data: bytes) -> tuple[bytes, bytes]:
    """Split `data` into (head, tail) where tail is an incomplete UTF-8 sequence at the end.

    Returns:
        (data, b"") when the end is complete (or not UTF-8 at all, which base64 handles).
    """
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: keep looking for the lead byte
            continue
        if 0xC2 <= byte <= 0xF4:  # a lead byte; anything else is not UTF-8 (base64 then)
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            if back < needed:
                return data[:-back], data[-back:]
        return data, b""
    return data, b""


def encode_data(data: bytes) -> tuple[str, bool]:
    """Return (text, is_base64): UTF-8 text as it is, anything else base64."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


class Coalescer:
    """Buffers output of both streams and hands chunks to `sink` in order.

    A chunk holds one stream; when the other stream writes, the buffer is flushed first so
    that the interleaving of stdout and stderr is kept.

    Args:
        sink: called with (stream, bytes) for every chunk.
        interval_s: the oldest buffered byte waits at most this long.
        max_bytes: a buffer this large is flushed at once.
        clock: monotonic time (tests pass a fake).
    """

    def __init__(
        self,
        sink: Sink,
        interval_s: float = 0.1,
        max_bytes: int = 16 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._interval_s = interval_s
        self._max_bytes = max_bytes
        self._clock = clock
        self._stream: Stream | None = None
        self._buffer = bytearray()
        self._since: float | None = None
        self._carry: dict[Stream, bytes] = {}

    def feed(self, stream: Stream, data: bytes) -> None:
        """Add output read from `stream`; flushes full chunks right away."""
        if not data:
            return
        if self._stream is not None and stream != self._stream and self._buffer:
            self.flush()
        if not self._buffer:
            carried = self._carry.pop(stream, b"")
            self._buffer += carried
            self._since = self._clock()
        self._stream = stream
        self._buffer += data
        while len(self._buffer) >= self._max_bytes:
            piece = bytes(self._buffer[: self._max_bytes])
            del self._buffer[: self._max_bytes]
            head, tail = split_incomplete_utf8(piece)
            self._buffer[:0] = tail
            if not head:  # cannot happen with max_bytes ≥ 4; guards an endless loop
                head, self._buffer = bytes(self._buffer), bytearray()
            self._sink(stream, head)
            self._since = self._clock() if self._buffer else None

    def due_in(self) -> float | None:
        """Seconds until the buffer must be flushed, or None when it is empty."""
        if not self._buffer or self._since is None:
            return None
        return max(0.0, self._since + self._interval_s - self._clock())

    def flush(self, final: bool = False) -> None:
        """Hand the buffer to the sink (keeping a cut character back unless `final`)."""
        if self._buffer and self._stream is not None:
            data = bytes(self._buffer)
            self._buffer.clear()
            self._since = None
            if not final:
                data, tail = split_incomplete_utf8(data)
                if tail:
                    self._carry[self._stream] = tail
            if data:
                self._sink(self._stream, data)
        if final:
            for stream, tail in list(self._carry.items()):
                self._sink(stream, tail)
            self._carry.clear()
