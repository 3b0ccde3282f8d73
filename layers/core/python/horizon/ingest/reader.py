"""Streams an S3 object's lines from a byte offset, holding at most one capped line in memory.

Each line comes with its 1-based number and the absolute byte offset just past its line break,
so a checkpoint of (offset, line number) resumes exactly where the last one left off: a Range
GET `bytes=<offset>-` and numbering from the next line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

BOM = b"\xef\xbb\xbf"
DEFAULT_CHUNK_BYTES = 256 * 1024
# DynamoDB items are at most 400 KB; a line of up to 256 KiB fits as an entry with its keys.
DEFAULT_MAX_LINE_BYTES = 256 * 1024


class Readable(Protocol):
    """What the reader needs from a body: botocore's StreamingBody, or any binary file."""

    def read(self, amt: int | None = ...) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the file.

    Attributes:
        number: the 1-based line number.
        end_offset: the byte offset just past this line's break (where the next line starts).
        raw: the line's bytes without its break (and without a trailing CR), or None when the
            line exceeded the cap and was skipped over.
        head: for a line too long, its first bytes (for the report); otherwise empty.
    """

    number: int
    end_offset: int
    raw: bytes | None
    head: bytes = b""


def iter_lines(
    body: Readable,
    start_offset: int = 0,
    start_line: int = 0,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    head_bytes: int = 256,
) -> Iterator[Line]:
    """Yield the lines of `body`, which starts at byte `start_offset` of the file.

    Args:
        body: the object's body from `start_offset` on (a Range GET's body).
        start_offset: the absolute offset of the body's first byte; a UTF-8 BOM is only
            stripped at offset 0.
        start_line: how many lines came before `start_offset`; numbering continues after it.
        max_line_bytes: longer lines are yielded with `raw=None` without being held in memory.
        chunk_bytes: how much to read at a time.
        head_bytes: how much of a too-long line to keep in `head`.

    Yields:
        Each line in order, including blank ones; a last line without a break too.
    """
    offset = start_offset  # absolute offset of buffer[0]
    number = start_line
    buffer = b""
    skipping = False  # inside a line that is too long: discard until its break
    head = b""
    first = start_offset == 0
    while True:
        chunk = body.read(chunk_bytes)
        if first:
            # The BOM may straddle a chunk boundary only in absurdly small chunks; gather 3 bytes.
            while chunk and len(chunk) < len(BOM) and BOM.startswith(chunk):
                more = body.read(chunk_bytes)
                if not more:
                    break
                chunk += more
            first = False
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
                offset += len(BOM)
                if not chunk:
                    continue  # the chunk held only the BOM: the file may go on
        if not chunk:
            break
        buffer = buffer + chunk if buffer else chunk
        position = 0
        while True:
            newline = buffer.find(b"\n", position)
            if newline < 0:
                break
            number += 1
            end = offset + newline + 1
            if skipping:
                skipping = False
                yield Line(number, end, None, head)
            elif newline - position > max_line_bytes and not (
                newline - position == max_line_bytes + 1 and buffer[newline - 1] == 0x0D
            ):
                yield Line(number, end, None, buffer[position : position + head_bytes])
            else:
                raw = buffer[position:newline]
                if raw[-1:] == b"\r":
                    raw = raw[:-1]
                yield Line(number, end, raw)
            position = newline + 1
        offset += position
        buffer = buffer[position:]
        # A trailing CR may belong to a CRLF whose LF is in the next chunk: allow one byte more.
        if not skipping and len(buffer) > max_line_bytes + 1:
            skipping = True
            head = buffer[:head_bytes]
        if skipping:
            offset += len(buffer)
            buffer = b""
    if skipping:
        yield Line(number + 1, offset, None, head)
    elif buffer:
        raw = buffer[:-1] if buffer[-1:] == b"\r" else buffer
        if len(raw) > max_line_bytes:
            yield Line(number + 1, offset + len(buffer), None, raw[:head_bytes])
        else:
            yield Line(number + 1, offset + len(buffer), raw)
