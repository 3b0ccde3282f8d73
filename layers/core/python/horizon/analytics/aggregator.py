"""Ingest-time aggregates of one segment: the valid lines between two checkpoints.

The ingest hands every batch of valid entries of a segment to a `SegmentAggregator` (the
batch it is about to store) and, just before the checkpoint that commits the segment, stores
its `Segment` (see `horizon.analytics.store`). A segment is a pure function of the file's
lines (start_line, end_line]: whoever computes it, in whichever attempt, gets the same
content. That is what makes the aggregates exact under retries (see DESIGN.md, analytics).

Segment parts (each stored as its own item). They are laid out to be cheap to *write*: the
aggregator runs for every line of every upload, so a batch is reduced in one pass of the C fast
path (`horizon.speedups`) or, without it, with C-level passes (`map` over `dict.get`,
`itertools.compress`), never a Python statement per line:
- `R` the rollup fields as columns, a row per entry: [api_ids, endpoints, http_statuses,
  minutes, response_times] (null where an entry has none). Per group and minute the count,
  and the exact multiset of response times — so sum, min, max, any percentile and any
  threshold filter (`> 100 ms`) — follow from it exactly.
- `E` [event types, instants as gaps]: a pair per entry with an event_type, in entry order.
- `C` [error codes, instants as gaps]: the same for error_code.
- `A` anchor-like entries (those with a `version_id`): [line, instant, known fields].

Readers never see these: `compaction.merge_payloads` turns a chain of segment payloads into
the read layout (grouped, each group a nested JSON text parsed only when it matches), which
is also what a completed job's compacted items hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from operator import floordiv, is_not, itemgetter, sub
from typing import Any

import orjson

from horizon.entries import NumberedEntry
from horizon.speedups import speedups

PARTS = ("R", "E", "C", "A")
# Parts stored without zlib (none: on moto and DynamoDB alike, moving fewer bytes wins).
UNCOMPRESSED_PARTS: frozenset[str] = frozenset()
ANCHOR_FIELDS = (
    "version_id",
    "event_type",
    "service",
    "level",
    "api_id",
    "endpoint",
    "http_status",
    "error_code",
    "message",
)
MINUTE_MS = 60_000
# `add` buffers single entries and reduces them this many at a time.
_BATCH = 256
_get = dict.get
_has = dict.__contains__
_entries_of = itemgetter(1)


@dataclass(frozen=True)
class Segment:
    """The aggregates of lines (start_line, end_line] of a job's file.

    Attributes:
        start_line, start_offset: the checkpoint the segment starts at.
        end_line, end_offset: the checkpoint it ends at.
        valid: how many valid entries it holds.
        parts: part name → plain JSON-ready payload.
    """

    start_line: int
    start_offset: int
    end_line: int
    end_offset: int
    valid: int
    parts: dict[str, Any]


class SegmentAggregator:
    """Accumulates one segment's aggregates, a batch of entries at a time."""

    def __init__(self, start_line: int, start_offset: int) -> None:
        self.start_line = start_line
        self.start_offset = start_offset
        self.valid = 0
        # R: one column per rollup field, a row per entry.
        self._rollups: tuple[list[Any], ...] = ([], [], [], [], [])
        self._events: tuple[list[Any], list[int]] = ([], [])
        self._codes: tuple[list[Any], list[int]] = ([], [])
        self._anchors: list[list[Any]] = []
        self._pending: list[NumberedEntry] = []

    def add(self, line: int, entry: dict[str, Any]) -> None:
        """Account for one valid entry (as `validate_line` returned it) at line `line`."""
        self._pending.append((line, entry))
        if len(self._pending) >= _BATCH:
            self._drain()

    def add_all(self, numbered: Sequence[NumberedEntry]) -> None:
        """Account for a batch of valid entries with their line numbers (the ingest's path)."""
        self._drain()
        self._reduce(numbered)

    def _drain(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._reduce(pending)

    def _reduce(self, numbered: Sequence[NumberedEntry]) -> None:
        """Append a batch's columns: one C pass where the fast path is built, else a few
        C-level passes over its entries; either way no Python statement per entry."""
        if not numbered:
            return
        self.valid += len(numbered)
        if _add_columns is not None:
            batch = numbered if type(numbered) is list else list(numbered)
            has_anchors = _add_columns(batch, *self._rollups, *self._events, *self._codes)
        else:
            has_anchors = self._reduce_python(numbered)
        if has_anchors:
            self._add_anchors(numbered)

    def _reduce_python(self, numbered: Sequence[NumberedEntry]) -> bool:
        """What `add_columns` does, in C-level passes; returns whether an entry has a
        version_id (an anchor: rare, so one pass looks first)."""
        entries = list(map(_entries_of, numbered))
        instants = list(map(_get, entries, _TIMESTAMP))
        apis, endpoints, statuses, minutes, elapsed = self._rollups
        apis += map(_get, entries, _API_ID)
        endpoints += map(_get, entries, _ENDPOINT)
        statuses += map(_get, entries, _HTTP_STATUS)
        minutes += map(floordiv, instants, _MINUTE)
        elapsed += map(_get, entries, _RESPONSE_TIME)
        _keyed(entries, _EVENT_TYPE, instants, self._events)
        _keyed(entries, _ERROR_CODE, instants, self._codes)
        return any(map(_has, entries, _VERSION_ID))

    def _add_anchors(self, numbered: Sequence[NumberedEntry]) -> None:
        versions = map(_get, map(_entries_of, numbered), _VERSION_ID)
        for line, entry in compress(numbered, map(is_not, versions, repeat(None))):
            fields = {name: entry[name] for name in ANCHOR_FIELDS if name in entry}
            self._anchors.append([line, entry["timestamp_ms"], fields])

    def finish(self, end_line: int, end_offset: int) -> Segment:
        """Return the segment ending at this checkpoint."""
        self._drain()
        parts = {
            "R": list(self._rollups),
            "E": [self._events[0], _gaps(self._events[1])],
            "C": [self._codes[0], _gaps(self._codes[1])],
            "A": self._anchors,
        }
        return Segment(self.start_line, self.start_offset, end_line, end_offset, self.valid, parts)


# One `repeat` per field name, shared: `map(dict.get, entries, repeat(name))` reads a column.
_TIMESTAMP, _API_ID, _ENDPOINT, _HTTP_STATUS, _RESPONSE_TIME = (
    repeat("timestamp_ms"),
    repeat("api_id"),
    repeat("endpoint"),
    repeat("http_status"),
    repeat("response_time_ms"),
)
_EVENT_TYPE, _ERROR_CODE, _VERSION_ID = (
    repeat("event_type"),
    repeat("error_code"),
    repeat("version_id"),
)
_MINUTE = repeat(MINUTE_MS)
# The C pass over a batch (see `_reduce`), or None to use the Python one.
_add_columns = None if speedups is None else speedups.add_columns


def _keyed(
    entries: list[dict[str, Any]],
    field: repeat[str],
    instants: list[int],
    into: tuple[list[Any], list[int]],
) -> None:
    """Append the entries' values of a field and their instants, skipping entries without."""
    values = list(map(_get, entries, field))
    missing = values.count(None)
    if missing == 0:
        into[0].extend(values)
        into[1].extend(instants)
    elif missing < len(values):
        present = list(map(is_not, values, repeat(None)))
        into[0].extend(compress(values, present))
        into[1].extend(compress(instants, present))


def _gaps(instants: list[int]) -> list[int]:
    """Instants in entry order as the first and then the differences (small numbers in JSON;
    negative where a log goes back in time). Inverse: `undelta`."""
    return [instants[0], *map(sub, instants[1:], instants)] if instants else []


def pack(value: Any) -> str:
    """JSON as text inside another JSON document: parsed only when needed."""
    return orjson.dumps(value).decode()


def unpack(text: str) -> Any:
    """Inverse of `pack`."""
    return orjson.loads(text)


def _deltas(instants: list[int]) -> list[int]:
    """Sorted instants as the first and then the gaps: small numbers, compact in JSON."""
    instants.sort()
    return [instants[0], *map(sub, instants[1:], instants)]


def delta(instants: list[int]) -> list[int]:
    """Sort `instants` (in place) and return them as the first and then the gaps."""
    return _deltas(instants)


def undelta(deltas: list[int]) -> list[int]:
    """Inverse of `_deltas`."""
    return list(accumulate(deltas))
