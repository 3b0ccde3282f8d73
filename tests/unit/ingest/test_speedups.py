"""The C fast path of the ingest core gives exactly what the pure-Python code gives.

`_horizon_speedups` decides ordinary lines itself and hands every other one to the Python
validator; its `add_columns` replaces the aggregator's C-level passes. These tests compare
both on generated lines and on every edge of the fast path's accepted shapes, check that the
fast path really decides the ordinary lines (a fallback for everything would also agree), and
that Python code run from inside it (a key's comparison, a number's division) cannot make it
read freed memory.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import random
import subprocess
import sys
import textwrap
import tracemalloc
import weakref
from typing import Any

import orjson
import pytest

from horizon.analytics import aggregator
from horizon.analytics.aggregator import SegmentAggregator
from horizon.entries import StoredEntry
from horizon.ingest import validator
from horizon.ingest.validator import validate_data, validate_line_python
from horizon.speedups import speedups

pytestmark = pytest.mark.skipif(speedups is None, reason="the C fast path is not built")


class Counting:
    """Fallbacks that record what they were handed: parsed lines, and raw ones."""

    def __init__(self) -> None:
        self.parsed: list[Any] = []
        self.lines: list[bytes] = []

    def validate_data(self, data: Any) -> Any:
        self.parsed.append(json.dumps(data).encode() if type(data) is dict else data)
        return validate_data(data)

    def validate_line(self, raw: bytes) -> Any:
        self.lines.append(raw)
        return validate_line_python(raw)

    @property
    def handed_on(self) -> int:
        return len(self.parsed) + len(self.lines)


def fast_and_counter() -> tuple[Any, Counting]:
    assert speedups is not None
    counting = Counting()
    validator = speedups.line_validator(
        orjson.loads, counting.validate_data, counting.validate_line
    )
    return validator, counting


def assert_same(raw: bytes, fast: Any) -> tuple[Any, Any]:
    got, expected = fast(raw), validate_line_python(raw)
    assert got == expected, raw
    if expected[0] is not None:  # the keys in the same order too
        assert list(got[0]) == list(expected[0]), raw
        assert list(got[0].get("attributes", ())) == list(expected[0].get("attributes", ())), raw
    return got, expected


def test_generated_lines_agree_and_ordinary_ones_never_fall_back() -> None:
    from bench.data import lines

    fast, counting = fast_and_counter()
    valid = 0
    for raw in lines(20_000, seed=11):
        if raw.strip():
            entry, _ = assert_same(raw, fast)
            valid += entry is not None
    assert valid > 15_000
    # Only lines the Python validator rejects, or that it accepts in a shape the fast path
    # leaves to it, were handed on: most valid lines were decided in C.
    handed_on_valid = sum(
        1 for raw in counting.parsed if type(raw) is bytes and validate_line_python(raw)[0]
    )
    assert handed_on_valid < valid * 0.05
    assert counting.lines and counting.parsed  # bad JSON, and the generator's invalid lines


FAST_SHAPES = [
    # The fast path's shapes, at the edges of every field: decided in C.
    "2026-11-22T04:00:00",
    "2026-11-22T04:00:00Z",
    "2026-11-22T04:00:00.123",
    "2026-11-22T04:00:00.123Z",
    "2026-11-22T04:00:00.000Z",
    "2026-11-22T04:00:00.999+02:00",
    "2026-11-22T00:30:00+01:00",  # crosses midnight
    "2026-01-01T00:00:00.000+00:01",  # crosses a year
    "2026-12-31T23:59:59.999-00:01",
    "2026-11-22T04:00:00-00:00",
    "2026-11-22T04:00:00+23:59",
    "2026-11-22T04:00:00-23:59",
    "2024-02-29T12:00:00Z",  # leap day
    "2000-02-29T12:00:00Z",  # leap day, 400-year rule
    "1969-12-31T23:59:59.999Z",  # before the epoch
    "1900-03-01T00:00:00Z",
    "0001-01-01T00:00:00.000Z",  # the first instant datetime has
    "9999-12-31T23:59:59.999Z",  # the last
    "2026-11-22 04:00:00Z",  # RFC 3339's space
    "2026-11-22 04:00:00.5",
    "2026-11-22T04:00:00.1Z",
    "2026-11-22T04:00:00.12",
    "2026-11-22T04:00:00.1234Z",
    "2026-11-22T04:00:00.12345-01:00",
    "2026-11-22T04:00:00.123456+05:45",
    "2026-11-22T04:00:00.999999Z",
    "1969-12-31T23:59:59.999999Z",
    "2026-11-22T04:00:00+0200",
    "2026-11-22T04:00:00.250-0930",
]
TIMESTAMPS = [
    *FAST_SHAPES,
    "0001-01-01T00:30:00+01:00",  # before the first instant once in UTC
    "9999-12-31T23:30:00-01:00",  # after the last
    # Impossible values in a fast-path shape: the Python validator names the reason.
    "2023-02-29T12:00:00Z",
    "1900-02-29T12:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-11-00T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-11-22T24:00:00Z",
    "2026-11-22T04:60:00Z",
    "2026-11-22T04:00:60Z",
    "2026-11-22T04:00:00+24:00",
    "2026-11-22T04:00:00+10:99",
    "2026-11-22T04:00:00+10:60",
    "2026-11-22T04:00:00+00:99",  # Python 3.11-3.13 alone would take it as +01:39
    "2026-11-22T04:00:00+0960",
    "2026-11-22T04:00:00.",
    # Shapes the fast path leaves to Python (valid or not there).
    "2026-11-22t04:00:00Z",
    "2026-11-22 04:00:00Z",
    "2026-11-22T04:00:00z",
    "2026-11-22T04:00:00+02",
    "2026-11-22T04:00Z",
    "2026-11-22T04:00:00.1234567Z",
    "2026-11-22T04:00:00.123456789+01:00",
    "2026-11-22T04:00:00+02:00:30",
    "2026-11-22T04:00:00,123Z",
    "20261122T040000Z",
    "2026-W47-7T04:00:00Z",
    "2026-11-22",
    "2026-11-22T04:00:00ZZ",
    "2026-11-22T04:00:00.123Z ",
    " 2026-11-22T04:00:00Z",
    "2026-11-22T04:00:0١Z",
    "２026-11-22T04:00:00Z",
    "2026-11-22T04:00:00\ud800",
    "",
]


@pytest.mark.parametrize("timestamp", TIMESTAMPS)
def test_timestamps_agree(timestamp: str) -> None:
    fast, _ = fast_and_counter()
    # json.dumps escapes a lone surrogate, which orjson.dumps refuses to write.
    assert_same(('{"timestamp": ' + json.dumps(timestamp) + "}").encode(), fast)
    raw = '{"timestamp": ' + json.dumps(timestamp, ensure_ascii=False) + ', "http_status": 200}'
    assert_same(raw.encode("utf-8", "surrogatepass"), fast)


def test_every_decided_shape_is_decided_in_c() -> None:
    """The fast path's own shapes are not handed on (else the agreement above proves little)."""
    fast, counting = fast_and_counter()
    for timestamp in FAST_SHAPES:
        assert fast(orjson.dumps({"timestamp": timestamp}))[0] is not None, timestamp
    assert counting.handed_on == 0
    # A line with a nested list is handed on parsed, never parsed twice.
    assert fast(b'{"timestamp": "2026-11-22T04:00:00Z", "tags": ["a"]}')[0] is not None
    assert len(counting.parsed) == 1
    assert counting.lines == []


VALUES: dict[str, list[Any]] = {
    "level": ["INFO", "", "é✓", None, 3, True, ["x"]],
    "http_status": [100, 599, 200, 99, 600, -1, 2**64, 200.0, True, "200", None],
    "response_time_ms": [
        0,
        0.0,
        -0.0,
        12,
        12.5,
        1e-131,
        1e-130,
        9.9999999999999e125,
        1e126,
        -1,
        -0.5,
        2**64,
        -(2**64),
        True,
        "5",
        None,
    ],
    "error_code": [500, -3, 0, 2**70, 5.0, False, "500", None],
    "event_type": ["login_failure", "", None, 7, {"a": 1}],
    "version_id": ["version-v2", None, 1.5],
}
ATTRIBUTES: list[dict[str, Any]] = [
    {},
    {"user": "u-1", "count": 3, "ok": True, "none": None},
    {"ratio": 0.25, "zero": 0.0, "tiny": 1e-200},
    {"huge": 1e200},
    {"": "empty key"},
    {"nested": {"a": 1}},
    {"nested": {"a": {"b": [1, 2.5, {"c": None}]}}},
    {"list": [1, "two", 3.0]},
    {"big": 2**80, "negative": -(2**70)},
    {"timestamp_ms": 5, "attributes": {"x": 1}},
    {"ключ": "значение", "emoji 🎉": "✓"},
]


def dumps(value: Any) -> bytes:
    """JSON bytes of `value`, big integers too (orjson.dumps stops at 64 bits)."""
    return json.dumps(value, ensure_ascii=False).encode()


def test_fields_and_attributes_agree() -> None:
    """Every known field's edge values, alone and in random combinations with attributes."""
    fast, _ = fast_and_counter()
    base = {"timestamp": "2026-11-22T04:00:00.250+02:00"}
    for field, values in VALUES.items():
        for value in values:
            assert_same(dumps({**base, field: value}), fast)
    for attributes in ATTRIBUTES:
        assert_same(dumps({**base, **attributes}), fast)
        assert_same(dumps({**attributes, **base, "level": "INFO"}), fast)
    rng = random.Random(7)
    for _ in range(3000):
        line: dict[str, Any] = {}
        keys = list(VALUES)
        rng.shuffle(keys)
        for field in keys[: rng.randrange(len(keys) + 1)]:
            line[field] = rng.choice(VALUES[field])
        line.update(rng.choice(ATTRIBUTES))
        if rng.random() < 0.9:
            line["timestamp"] = rng.choice(TIMESTAMPS[: len(FAST_SHAPES) + 8])
        items = list(line.items())
        rng.shuffle(items)
        assert_same(dumps(dict(items)), fast)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b"null",
        b'{"timestamp": "2026-11-22T04:00:00Z"',
        b'{"timestamp": NaN}',
        b'{"timestamp": "2026-11-22T04:00:00Z", "x": Infinity}',
        b'{"timestamp": "2026-11-22T04:00:00Z", "msg": "\xff"}',
        b'{"timestamp": "2026-11-22T04:00:00Z", "timestamp": "bad"}',
        b'{"timestamp": "bad", "timestamp": "2026-11-22T04:00:00Z"}',
        b"{}",
        b'{"timestamp": null}',
        b'{"timestamp": 1732248000}',
        b"[" * 2000 + b"]" * 2000,
    ],
)
def test_lines_off_the_fast_path_agree(raw: bytes) -> None:
    fast, _ = fast_and_counter()
    assert_same(raw, fast)


def test_a_wrong_call_is_refused() -> None:
    fast, _ = fast_and_counter()
    # orjson refuses a non-bytes input as bad JSON: both name it the same way.
    assert fast(None) == validate_line_python(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fast()
    with pytest.raises(TypeError):
        fast(b"{}", raw=b"{}")
    assert speedups is not None
    with pytest.raises(TypeError):
        speedups.line_validator(orjson.loads, validate_data, "not callable")
    with pytest.raises(TypeError):
        speedups.line_validator(orjson.loads, validate_data)


def test_the_fast_path_holds_no_memory_per_line() -> None:
    """Reference counts in C: validating many lines, valid and not, leaves nothing behind."""
    fast, _ = fast_and_counter()
    lines = [
        orjson.dumps({"timestamp": "2026-11-22T04:00:00.123+02:00", "level": "INFO", "n": n})
        for n in range(2000)
    ] + [b"bad", b'{"timestamp": "2026-11-22T04:00:00Z", "nested": {"a": [1]}}']
    for raw in lines:  # warm any cache
        fast(raw)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            for raw in lines:
                fast(raw)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown  # 40,000 calls: a leak of even one object each is 1 MB+


# -- the aggregator's columns -----------------------------------------------------------------


def generated_entries(count: int, seed: int) -> list[tuple[int, dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for line in range(1, count + 1):
        data: dict[str, Any] = {"timestamp": f"2026-11-22T04:{rng.randrange(60):02d}:00Z"}
        for field, values in (
            ("api_id", ["api-1", "api-2"]),
            ("endpoint", ["/a", "/b"]),
            ("http_status", [200, 500]),
            ("response_time_ms", [5, 120.5, 0]),
            ("event_type", ["login_failure", "page_view"]),
            ("error_code", [500, 404]),
            ("version_id", ["version-v1"]),
        ):
            if rng.random() < (0.02 if field == "version_id" else 0.7):
                data[field] = rng.choice(values)
        entry, reason = validate_line_python(orjson.dumps(data))
        assert reason is None
        data = entry
        # Before the epoch too (floor division of the minute).
        if rng.random() < 0.1:
            data["timestamp_ms"] = -rng.randrange(10**9)
        out.append((line, data))
    return out


def segment_of(batches: list[Any], monkeypatch: pytest.MonkeyPatch, use_c: bool) -> Any:
    with monkeypatch.context() as patch:
        if not use_c:
            patch.setattr(aggregator, "_add_columns", None)
        segment = SegmentAggregator(0, 0)
        for batch in batches:
            segment.add_all(batch)
        for line, entry in batches[0][:3]:  # the single-entry path too
            segment.add(line + 10_000, entry)
        return segment.finish(20_000, 0)


def test_add_columns_gives_the_python_passes_segment(monkeypatch) -> None:
    entries = generated_entries(2000, seed=4)
    batches: list[Any] = [entries[i : i + 250] for i in range(0, len(entries), 250)]
    batches.append([StoredEntry(line, entry) for line, entry in entries[:40]])
    batches.append(tuple(entries[40:60]))  # any sequence
    batches.append([])
    fast = segment_of(batches, monkeypatch, use_c=True)
    slow = segment_of(batches, monkeypatch, use_c=False)
    assert fast == slow
    assert fast.parts["A"], "the generated entries include anchors"
    assert all(fast.parts[part][0] for part in ("E", "C"))


def test_add_columns_rejects_what_is_not_a_batch_of_pairs() -> None:
    assert speedups is not None
    columns = [[] for _ in range(9)]
    with pytest.raises(TypeError):
        speedups.add_columns([(1, {"timestamp_ms": 0}, 3)], *columns)
    with pytest.raises(TypeError):
        speedups.add_columns([(1, "entry")], *columns)
    with pytest.raises(KeyError):
        speedups.add_columns([(1, {})], *columns)
    with pytest.raises(TypeError):
        speedups.add_columns((), *columns)
    assert list(itertools.chain(*columns)) == []


def test_the_rules_it_copies_are_the_python_validators() -> None:
    """The known fields and DynamoDB's number limits are written in both languages."""
    assert speedups is not None
    assert speedups.KNOWN_KEYS == validator._KNOWN_KEYS
    assert (speedups.DYNAMO_MIN, speedups.DYNAMO_MAX) == (
        validator._DYNAMO_MIN,
        validator._DYNAMO_MAX,
    )


# -- Python code run from inside the C code -----------------------------------------------------


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter that imports the same `_horizon_speedups`.

    With the system allocator poisoning freed memory, a read after a free crashes or shows.
    """
    assert speedups is not None
    prelude = f"import sys; sys.path.insert(0, {str(speedups.__file__).rsplit('/', 1)[0]!r})\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONMALLOC": "malloc", "MALLOC_PERTURB_": "165"},
    )


def test_add_columns_keeps_the_instant_while_python_code_runs() -> None:
    """The floor division may drop the entry's instant; it still lands in the event column."""
    child = run_child(
        """
        import _horizon_speedups as mod
        class Instant(int):
            def __floordiv__(self, other):
                entry.pop("timestamp_ms")
                return 0
        entry = {"timestamp_ms": Instant(123456789), "event_type": "x"}
        columns = [[] for _ in range(9)]
        mod.add_columns([(1, entry)], *columns)
        assert columns[6] == [123456789], columns
        """
    )
    assert child.returncode == 0, child.stderr


def test_add_columns_keeps_the_pair_while_python_code_runs() -> None:
    child = run_child(
        """
        import _horizon_speedups as mod
        class Instant(int):
            def __floordiv__(self, other):
                pairs.clear()
                return 0
        pairs = [(1, {"timestamp_ms": Instant(5), "api_id": "".join(["api", "-1"])})]
        columns = [[] for _ in range(9)]
        mod.add_columns(pairs, *columns)
        assert columns[0] == ["api-1"], columns
        """
    )
    assert child.returncode == 0, child.stderr


def test_a_key_that_runs_code_while_attributes_are_taken_falls_back() -> None:
    """A `loads` returning a non-str key: handed to the fallback; and a key whose comparison
    empties the dict mid-lookup is survived, never read after a free.

    How many times a lookup compares a colliding key depends on the probe sequence, so on the
    hash seed: the key that empties the dict does it at its first comparison, whatever it is.
    """
    child = run_child(
        """
        import _horizon_speedups as mod
        class Collider:
            def __init__(self, empties):
                self.empties = empties
            def __hash__(self):
                return hash("level")
            def __eq__(self, other):
                if self.empties:
                    holder["data"].clear()
                return False
        holder = {}
        def loads_with(empties):
            def loads(raw):
                data = {"timestamp": "2026-11-22T04:00:00.123Z", "x": 1}
                data[Collider(empties)] = "".join(["v", "w"])
                holder["data"] = data
                return data
            return loads
        def validator(empties):
            loads = loads_with(empties)
            return mod.line_validator(loads, lambda data: "handed on", lambda raw: "bad JSON")
        assert validator(False)(b"x") == "handed on"
        for _ in range(100):  # what it returns for such a `loads` is unspecified: not a crash
            result = validator(True)(b"x")
            assert result == "handed on" or type(result) is tuple, result
        """
    )
    assert child.returncode == 0, child.stderr


def test_a_validator_in_a_reference_cycle_is_collected() -> None:
    assert speedups is not None

    def make_cycle() -> weakref.ref[object]:
        box: list[object] = []

        def fallback(raw: bytes) -> object:  # refers to the validator through `box`
            return box and validate_line_python(raw)

        box.append(speedups.line_validator(orjson.loads, validate_data, fallback))
        return weakref.ref(fallback)

    fallback = make_cycle()
    gc.collect()
    assert fallback() is None


def test_errors_of_loads_and_fallback_propagate() -> None:
    assert speedups is not None

    def loads(raw: bytes) -> object:
        raise TypeError("not parseable here")

    def fallback(raw: bytes) -> object:
        raise RuntimeError("fallback failed")

    with pytest.raises(TypeError):
        speedups.line_validator(loads, validate_data, validate_line_python)(b"{}")
    with pytest.raises(MemoryError):
        speedups.line_validator(
            lambda raw: (_ for _ in ()).throw(MemoryError()), validate_data, fallback
        )(b"{}")
    with pytest.raises(RuntimeError):
        speedups.line_validator(orjson.loads, validate_data, fallback)(b"not json")
    with pytest.raises(RuntimeError):
        speedups.line_validator(orjson.loads, fallback, fallback)(b"[1]")
