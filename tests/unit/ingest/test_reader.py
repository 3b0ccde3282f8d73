"""The line reader: offsets, resumption, BOM, CRLF, last line, too-long lines, flat memory."""

from __future__ import annotations

import io

import pytest

from horizon.ingest.reader import Line, iter_lines


class CountingBody(io.BytesIO):
    """A body that records the largest read asked of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest_read = 0

    def read(self, amt: int | None = None) -> bytes:
        self.largest_read = max(self.largest_read, amt or 0)
        return super().read(amt)


def lines(data: bytes, **kwargs: int) -> list[Line]:
    return list(iter_lines(io.BytesIO(data), **kwargs))


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64, 1 << 16])
def test_lines_numbers_and_end_offsets(chunk: int) -> None:
    data = b'{"a":1}\n\n{"b":2}\r\nlast'
    assert lines(data, chunk_bytes=chunk) == [
        Line(1, 8, b'{"a":1}'),
        Line(2, 9, b""),
        Line(3, 18, b'{"b":2}'),
        Line(4, 22, b"last"),
    ]


@pytest.mark.parametrize("chunk", [1, 2, 4, 1 << 16])
def test_bom_is_stripped_at_offset_zero_only(chunk: int) -> None:
    data = b"\xef\xbb\xbfone\ntwo\n"
    assert lines(data, chunk_bytes=chunk) == [Line(1, 7, b"one"), Line(2, 11, b"two")]
    # Resuming mid-file: bytes that look like a BOM are data.
    assert lines(b"\xef\xbb\xbfx\n", start_offset=7, start_line=2) == [
        Line(3, 7 + 5, b"\xef\xbb\xbfx")
    ]


def test_resuming_from_an_offset_continues_numbers_and_offsets() -> None:
    data = b"one\ntwo\nthree\n"
    full = lines(data)
    second = full[0]
    resumed = list(iter_lines(io.BytesIO(data[second.end_offset :]), second.end_offset, 1))
    assert resumed == full[1:]


def test_trailing_newline_gives_no_extra_line_and_empty_file_no_lines() -> None:
    assert lines(b"a\n") == [Line(1, 2, b"a")]
    assert lines(b"") == []
    assert lines(b"\n") == [Line(1, 1, b"")]
    assert lines(b"a\r") == [Line(1, 2, b"a")]


@pytest.mark.parametrize("chunk", [3, 7, 1 << 16])
def test_too_long_lines_are_marked_and_reading_goes_on(chunk: int) -> None:
    data = b"short\n" + b"x" * 50 + b"\nok\n" + b"y" * 11 + b"\r\n" + b"z" * 40
    got = lines(data, max_line_bytes=10, chunk_bytes=chunk)
    assert [(line.number, line.end_offset, line.raw) for line in got] == [
        (1, 6, b"short"),
        (2, 57, None),
        (3, 60, b"ok"),
        (4, 73, None),
        (5, 113, None),
    ]
    assert got[1].head.startswith(b"xxx")


@pytest.mark.parametrize("chunk", [1, 4, 1 << 16])
def test_a_line_exactly_at_the_cap_is_kept_with_or_without_crlf(chunk: int) -> None:
    data = b"a" * 10 + b"\r\n" + b"b" * 10 + b"\n" + b"c" * 10 + b"\r"
    got = lines(data, max_line_bytes=10, chunk_bytes=chunk)
    assert [line.raw for line in got] == [b"a" * 10, b"b" * 10, b"c" * 10]
    assert lines(b"d" * 11, max_line_bytes=10, chunk_bytes=chunk)[0].raw is None


def test_memory_stays_bounded_on_a_huge_line() -> None:
    huge = b"q" * (5 * 1024 * 1024)
    body = CountingBody(huge + b"\nend\n")
    got = list(iter_lines(body, max_line_bytes=1024, chunk_bytes=4096))
    assert [line.raw for line in got] == [None, b"end"]
    assert len(got[0].head) <= 256
    assert body.largest_read == 4096  # reads fixed chunks, never the whole body
