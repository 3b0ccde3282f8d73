"""Coalescing: by size, by age, per stream in order, UTF-8 kept whole, base64 otherwise."""

from __future__ import annotations

import base64

from horizon.agent.coalescer import Coalescer, encode_data, split_incomplete_utf8


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _collect() -> tuple[list[tuple[str, bytes]], Coalescer, FakeClock]:
    chunks: list[tuple[str, bytes]] = []
    clock = FakeClock()
    coalescer = Coalescer(
        lambda s, d: chunks.append((s, d)), interval_s=0.1, max_bytes=16, clock=clock
    )
    return chunks, coalescer, clock


def test_small_writes_wait_for_the_interval() -> None:
    chunks, coalescer, clock = _collect()
    coalescer.feed("stdout", b"a\n")
    clock.now = 0.05
    coalescer.feed("stdout", b"b\n")
    assert chunks == []
    assert coalescer.due_in() == 0.05
    clock.now = 0.1
    assert coalescer.due_in() == 0.0
    coalescer.flush()
    assert chunks == [("stdout", b"a\nb\n")]
    assert coalescer.due_in() is None


def test_full_chunks_go_at_once_and_nothing_is_lost() -> None:
    chunks, coalescer, _ = _collect()
    data = bytes(range(48, 48 + 40))
    coalescer.feed("stdout", data)
    assert [len(d) for _, d in chunks] == [16, 16]
    coalescer.flush(final=True)
    assert b"".join(d for _, d in chunks) == data


def test_switching_streams_keeps_the_interleaving() -> None:
    chunks, coalescer, _ = _collect()
    coalescer.feed("stdout", b"out1 ")
    coalescer.feed("stderr", b"err1 ")
    coalescer.feed("stdout", b"out2 ")
    coalescer.flush(final=True)
    assert chunks == [("stdout", b"out1 "), ("stderr", b"err1 "), ("stdout", b"out2 ")]


def test_a_cut_character_is_carried_to_the_next_chunk() -> None:
    chunks, coalescer, _ = _collect()
    text = "ab€".encode()  # € is three bytes
    coalescer.feed("stdout", text[:3])
    coalescer.flush()
    coalescer.feed("stdout", text[3:])
    coalescer.flush(final=True)
    assert chunks == [("stdout", b"ab"), ("stdout", "€".encode())]
    assert all(encode_data(d)[1] is False for _, d in chunks)


def test_split_incomplete_utf8() -> None:
    assert split_incomplete_utf8("é".encode()[:1]) == (b"", b"\xc3")
    assert split_incomplete_utf8(b"abc") == (b"abc", b"")
    assert split_incomplete_utf8("x😀".encode()[:3]) == (b"x", "😀".encode()[:2])
    assert split_incomplete_utf8(b"\xff\xfe") == (b"\xff\xfe", b"")


def test_non_utf8_travels_base64() -> None:
    text, is_base64 = encode_data(b"\xff\x00raw")
    assert is_base64 and base64.b64decode(text) == b"\xff\x00raw"
    assert encode_data("héllo".encode()) == ("héllo", False)
