"""Ingest-time aggregates of one segment: the valid lines between two checkpoints.

The ingest feeds every valid entry of a segment to a `SegmentAggregator` and, just before
the checkpoint that commits the segment, stores its `Segment` (see `horizon.analytics.store`).
A segment is a pure function of the file's lines (start_line, end_line]: whoever computes it,
in whichever attempt, gets the same content. That is what makes the aggregates exact under
retries (see `/tmp/analytics-design.md`).

Parts (each stored as its own item, read only by the questions that need it):
- `R` rollups per (api_id, endpoint, http_status) and minute: how many entries, and the exact
  multiset of their `response_time_ms` values (value → count). Count, sum, min, max, any
  percentile and any threshold filter (`> 100 ms`) follow from it exactly. Stored grouped by
  (api_id, endpoint, http_status) first, so a reader tests its filter once per group, not
  once per minute, and each group's minutes are a nested JSON text, so a reader parses only
  the groups that match (the whole item is compressed by the store):
  `[[api_id, endpoint, http_status, pack([[minute, count, [v, n, v, n, ...]], ...])], ...]`.
- `E` the instants (epoch ms) of the entries of each `event_type`: {type: pack(deltas)}.
- `C` the instants of the entries of each `error_code`: [[code, pack(deltas)], ...].
- `A` anchor-like entries (those with a `version_id`): line, instant and known fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Any

import orjson

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
    """Accumulates one segment's aggregates; `add` runs once per valid line, so it is lean."""

    def __init__(self, start_line: int, start_offset: int) -> None:
        self.start_line = start_line
        self.start_offset = start_offset
        self.valid = 0
        self._rollups: dict[tuple[Any, ...], dict[int, list[Any]]] = {}
        self._events: dict[str, list[int]] = {}
        self._codes: dict[int, list[int]] = {}
        self._anchors: list[list[Any]] = []

    def add(self, line: int, entry: dict[str, Any]) -> None:
        """Account for one valid entry (as `validate_line` returned it) at line `line`."""
        self.valid += 1
        instant = entry["timestamp_ms"]
        get = entry.get
        key = (get("api_id"), get("endpoint"), get("http_status"))
        minutes = self._rollups.get(key)
        if minutes is None:
            minutes = self._rollups[key] = {}
        minute = instant // MINUTE_MS
        group = minutes.get(minute)
        if group is None:
            group = minutes[minute] = [0, {}]
        group[0] += 1
        elapsed = get("response_time_ms")
        if elapsed is not None:
            values = group[1]
            values[elapsed] = values.get(elapsed, 0) + 1
        event_type = get("event_type")
        if event_type is not None:
            found = self._events.get(event_type)
            if found is None:
                self._events[event_type] = [instant]
            else:
                found.append(instant)
        code = get("error_code")
        if code is not None:
            found = self._codes.get(code)
            if found is None:
                self._codes[code] = [instant]
            else:
                found.append(instant)
        if get("version_id") is not None:
            fields = {name: entry[name] for name in ANCHOR_FIELDS if name in entry}
            self._anchors.append([line, instant, fields])

    def finish(self, end_line: int, end_offset: int) -> Segment:
        """Return the segment ending at this checkpoint."""
        rollups = [
            [
                *key,
                pack(
                    [
                        [minute, count, [item for pair in sorted(values.items()) for item in pair]]
                        for minute, (count, values) in sorted(minutes.items())
                    ]
                ),
            ]
            for key, minutes in self._rollups.items()
        ]
        parts = {
            "R": rollups,
            # Nested JSON texts again: a reader parses only the types/codes it asks about.
            "E": {name: pack(_deltas(instants)) for name, instants in self._events.items()},
            "C": [[code, pack(_deltas(instants))] for code, instants in self._codes.items()],
            "A": self._anchors,
        }
        return Segment(self.start_line, self.start_offset, end_line, end_offset, self.valid, parts)


def pack(value: Any) -> str:
    """JSON as text inside another JSON document: parsed only when needed."""
    return orjson.dumps(value).decode()


def unpack(text: str) -> Any:
    """Inverse of `pack`."""
    return orjson.loads(text)


def _deltas(instants: list[int]) -> list[int]:
    """Sorted instants as the first and then the gaps: small numbers, compact in JSON."""
    instants.sort()
    return [instants[0], *(b - a for a, b in pairwise(instants))]


def delta(instants: list[int]) -> list[int]:
    """Sort `instants` (in place) and return them as the first and then the gaps."""
    return _deltas(instants)


def undelta(deltas: list[int]) -> list[int]:
    """Inverse of `_deltas`."""
    return list(accumulate(deltas))
