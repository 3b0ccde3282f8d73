"""Compaction in passes: the same multisets as one merge, in bounded memory, the same bytes.

`compact_elements` merges a part one slice of the entries per pass and `encoded_chunks` packs
the elements into items: whatever the number of passes and chunks, their union must hold
exactly what `merge_payloads` of the whole chain holds, and a pass's memory must not grow with
the job.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from horizon.analytics import compaction
from horizon.analytics.aggregator import MINUTE_MS, PARTS, SegmentAggregator, undelta, unpack
from horizon.analytics.compaction import (
    ElementTooLargeError,
    compact_elements,
    encoded_chunks,
    merge_payloads,
)
from horizon.ingest import validate_line
from horizon.ingest.reader import iter_lines
from tests.unit.analytics.conftest import jsonl
from tests.unit.analytics.generated import generate


def _encode(payload: Any) -> bytes:
    return zlib.compress(orjson.dumps(payload), 1)


def _decode(blob: bytes) -> Any:
    return orjson.loads(zlib.decompress(blob))


def _segments(data: bytes, every: int = 170) -> list[dict[str, Any]]:
    """The parts of the segments of a log, cut every `every` lines, through JSON as stored."""
    segments, current = [], SegmentAggregator(0, 0)
    for line in iter_lines(io.BytesIO(data)):
        entry, _ = validate_line(line.raw) if line.raw.strip() else (None, None)
        if entry is not None:
            current.add(line.number, entry)
        if line.number % every == 0:
            segments.append(current.finish(line.number, line.end_offset))
            current = SegmentAggregator(line.number, line.end_offset)
    segments.append(current.finish(line.number, line.end_offset))
    return [orjson.loads(orjson.dumps(s.parts)) for s in segments]


@pytest.fixture(scope="module")
def chain() -> list[dict[str, Any]]:
    rows, _ = generate(3000, seed=11)
    for index in range(0, len(rows), 7):
        if isinstance(rows[index], dict):
            # Equal values (5 and 5.0) in one minute and group, and anchors to carry along.
            rows[index] = {**rows[index], "response_time_ms": 5 if index % 2 else 5.0}
    for index in range(5, len(rows), 90):
        if isinstance(rows[index], dict):
            rows[index] = {**rows[index], "version_id": f"v{index}"}
    return _segments(jsonl(rows))


def _content(part: str, payloads: list[Any]) -> Any:
    """What a reader can learn from a part's payloads, as multisets (order-free)."""
    if part == "R":
        counts: Counter[tuple[Any, ...]] = Counter()
        values: Counter[tuple[Any, ...]] = Counter()
        for payload in payloads:
            for api_id, endpoint, status, packed in payload:
                for minute, count, flat in unpack(packed):
                    counts[(api_id, endpoint, status, minute)] += count
                    for index in range(0, len(flat), 2):
                        values[(api_id, endpoint, status, minute, flat[index])] += flat[index + 1]
        return counts, values
    if part in ("E", "C"):
        instants: Counter[tuple[Any, int]] = Counter()
        for payload in payloads:
            pairs = payload
            for key, packed in pairs:
                instants.update((key, instant) for instant in undelta(unpack(packed)))
        return instants
    return sorted(anchor for payload in payloads for anchor in payload)


def _compacted(part: str, chain: list[dict[str, Any]], max_bytes: int) -> list[Any]:
    payloads = [segment[part] for segment in chain]
    valid = sum(len(segment["R"][0]) for segment in chain)
    elements = compact_elements(part, lambda: iter(payloads), valid)
    return [_decode(blob) for blob in encoded_chunks(part, elements, _encode, max_bytes)]


@pytest.mark.parametrize("part", PARTS)
def test_many_passes_and_chunks_hold_what_one_merge_holds(chain, part, monkeypatch) -> None:
    monkeypatch.setattr(compaction, "PASS_ENTRIES", 400)  # ~7 passes
    monkeypatch.setattr(compaction, "ELEMENT_VALUES", 8)
    whole = merge_payloads(part, [segment[part] for segment in chain])
    chunks = _compacted(part, chain, max_bytes=600)
    assert len(chunks) > 1
    assert _content(part, chunks) == _content(part, [whole])


@pytest.mark.parametrize("part", PARTS)
def test_one_pass_into_one_chunk_is_the_merge_itself(chain, part) -> None:
    whole = merge_payloads(part, [segment[part] for segment in chain])
    assert _compacted(part, chain, max_bytes=10**7) == [orjson.loads(orjson.dumps(whole))]


def test_every_pass_reads_the_chain_once(chain, monkeypatch) -> None:
    monkeypatch.setattr(compaction, "PASS_ENTRIES", 1_000)
    started = []

    def segments() -> Iterator[Any]:
        started.append(1)
        return iter([segment["R"] for segment in chain])

    valid = sum(len(segment["R"][0]) for segment in chain)
    assert list(compact_elements("R", segments, valid))
    assert len(started) == -(-valid // 1_000) > 1


def test_a_minute_with_more_values_than_an_element_is_split_with_its_count() -> None:
    values = [float(v) for v in range(50)]
    payload = [["a"] * 52, ["/x"] * 52, [200] * 52, [7] * 52, [*values, None, None]]
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(compaction, "ELEMENT_VALUES", 16)
        elements = list(compact_elements("R", lambda: [payload], 52))
    rows = [row for element in elements for row in unpack(element[3])]
    assert [len(flat) // 2 for _, _, flat in rows] == [16, 16, 16, 2]
    assert sum(count for _, count, _ in rows) == 52  # the two entries without a value too
    assert sorted(v for _, _, flat in rows for v in flat[::2]) == values


def test_no_entries_make_one_empty_chunk_and_an_element_too_big_is_refused() -> None:
    for part in PARTS:
        blobs = list(encoded_chunks(part, iter(()), _encode, 100))
        assert [_decode(blob) for blob in blobs] == [[]]
    huge = [1, 2, {"message": "x" * 5_000}]
    with pytest.raises(ElementTooLargeError):
        list(encoded_chunks("A", iter([huge]), orjson.dumps, 1_000))


def _synthetic(segments: int, seed: int = 1) -> Iterator[list[Any]]:
    """Rollup payloads of 1,000 entries each, made on the fly: distinct float values in the
    same 24 groups and 10 minutes, so that every pass has the same shape however many."""
    rng = random.Random(seed)
    for _ in range(segments):
        rows = 1_000
        yield [
            [f"api-{rng.randrange(8)}" for _ in range(rows)],
            ["/users/{id}"] * rows,
            [rng.choice((200, 404, 500)) for _ in range(rows)],
            [rng.randrange(10) for _ in range(rows)],
            [rng.random() * 900 for _ in range(rows)],
        ]


def _peak_bytes(segments: int, merge: bool) -> int:
    """Peak memory (tracemalloc) of merging that many synthetic segments, output discarded."""
    tracemalloc.start()
    try:
        if merge:
            merge_payloads("R", _synthetic(segments))
        else:
            for _ in compact_elements("R", lambda: _synthetic(segments), segments * 1_000):
                pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_pass_holds_a_bounded_slice_however_long_the_chain(monkeypatch) -> None:
    monkeypatch.setattr(compaction, "PASS_ENTRIES", 2_000)
    small, large = _peak_bytes(6, merge=False), _peak_bytes(24, merge=False)
    # Four times the entries (and passes): about the same peak.
    assert large < small * 1.3
    # The measure can see growth: merging everything at once grows with the chain.
    assert _peak_bytes(24, merge=True) > 2 * _peak_bytes(6, merge=True) > large


def test_the_same_chain_compacts_to_the_same_bytes_in_any_process(chain, tmp_path) -> None:
    """Strings hash differently per process; the passes must not depend on that."""
    path = tmp_path / "chain.json"
    path.write_bytes(orjson.dumps(chain))
    script = (
        "import sys, zlib, orjson\n"
        "from horizon.analytics import compaction\n"
        "compaction.PASS_ENTRIES = 300\n"
        "chain = orjson.loads(open(sys.argv[1], 'rb').read())\n"
        "valid = sum(len(s['R'][0]) for s in chain)\n"
        "for part in 'RECA':\n"
        "    payloads = [s[part] for s in chain]\n"
        "    elements = compaction.compact_elements(part, lambda: iter(payloads), valid)\n"
        "    for blob in compaction.encoded_chunks(part, elements, orjson.dumps, 3000):\n"
        "        print(zlib.crc32(blob))\n"
    )
    outputs = set()
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": ":".join(sys.path)},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert len(next(iter(outputs)).split()) > 4


def test_minutes_stay_whole_minutes(chain) -> None:
    """Sanity of the fixture: the R rows' minutes are epoch minutes of the log's day."""
    counts, _ = _content("R", _compacted("R", chain, 10**7))
    assert all(key[3] * MINUTE_MS > 1_700_000_000_000 for key in counts)


def test_event_types_are_read_from_both_stored_layouts() -> None:
    """E chunks are [[event_type, packed], ...]; jobs compacted earlier hold a dict."""
    from horizon.analytics.aggregator import delta, pack
    from horizon.analytics.executors import AggregatesExecutor
    from horizon.analytics.filters import compile_filter

    failures = [[MINUTE_MS * 3, MINUTE_MS * 1, MINUTE_MS * 2], [MINUTE_MS * 1]]
    pairs = [["login_failure", pack(delta(list(failures[0])))], ["page_view", pack([5])]]
    later = [["login_failure", pack(delta(list(failures[1])))]]

    class Store:
        def __init__(self, payloads: list[Any]) -> None:
            self.payloads = payloads

        def load(self, *args: Any, **kwargs: Any) -> list[Any]:
            return self.payloads

    class Counts:
        lines = valid = 5

    class Job:
        owner, job_id, counts, status = "o", "j", Counts(), None

    where = compile_filter({"event_type": "login_failure"})
    expected = sorted(failures[0] + failures[1])
    for payloads in ([pairs, later], [dict(pairs), dict(later)], [pairs, dict(later)]):
        executor = AggregatesExecutor(Store(payloads))  # type: ignore[arg-type]
        assert executor.instants([Job()], where) == expected  # type: ignore[list-item]
    # A chunk may now hold an event type twice (slices of its instants): both count.
    both = [[*pairs, *later]]
    assert AggregatesExecutor(Store(both)).instants([Job()], where) == expected  # type: ignore[arg-type,list-item]
