"""Merging a chain of segment payloads into the read layout, one payload per part.

Segments are written in the layout that is cheapest to produce per line (see
`aggregator`); readers want one that is cheap to filter: rollups grouped by (api_id,
endpoint, http_status) with each group's minutes as a nested JSON text, instants grouped by
event type or error code as sorted deltas. `merge_payloads` turns the payloads of a chain into
that layout. The store does it when a reader follows a job's chain, and when a job completes
it stores the result as the job's compacted items (see `AggregateStore.put_compacted`). The
merge is a pure function of the chain, which is a pure function of the committed lines, so
either way every question gets the same exact answer.

Read layout per part:
- `R` [[api_id, endpoint, http_status, pack([[minute, count, [v, n, v, n, ...]], ...])], ...]:
  per group and minute how many entries, and their response_time_ms values (sorted) with how
  many entries had each.
- `E` {event_type: pack(deltas of the sorted instants)}.
- `C` [[error_code, pack(deltas of the sorted instants)], ...].
- `A` [[line, instant, fields], ...].
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from horizon.analytics.aggregator import delta, pack, undelta


def merge_payloads(part: str, payloads: Iterable[Any]) -> Any:
    """Merge the segment payloads of one part (in line order) into one read-layout payload.

    Args:
        part: R, E, C or A.
        payloads: the part's segment payloads along the committed chain, in line order.

    Returns:
        One payload in the read layout.

    Raises:
        ValueError: an unknown part.
    """
    if part == "R":
        return _merge_rollups(payloads)
    if part in ("E", "C"):
        # Keys are strings (E) or ints (C), as the validator guarantees: never a bool.
        grouped: dict[Any, list[int]] = {}
        for keys, gaps in payloads:
            for key, instant in zip(keys, undelta(gaps), strict=True):
                found = grouped.get(key)
                if found is None:
                    grouped[key] = [instant]
                else:
                    found.append(instant)
        if part == "E":
            return {name: pack(delta(instants)) for name, instants in grouped.items()}
        return [[code, pack(delta(instants))] for code, instants in grouped.items()]
    if part == "A":
        return [anchor for payload in payloads for anchor in payload]
    raise ValueError(f"unknown aggregate part {part!r}")


def _merge_rollups(payloads: Iterable[Any]) -> list[Any]:
    """Group the rollup rows by (api_id, endpoint, http_status), then by minute.

    A minute keeps one list of its entries' response times (None for an entry without one)
    until it is packed: this merge holds a whole job's values, and a list costs a pointer
    per entry where a value → count dict, or a [count, values] pair per minute, costs more.
    """
    groups: dict[tuple[Any, Any, Any], dict[int, list[Any]]] = {}
    for payload in payloads:
        for api_id, endpoint, status, minute, elapsed in zip(*payload, strict=True):
            minutes = groups.get((api_id, endpoint, status))
            if minutes is None:
                minutes = groups[(api_id, endpoint, status)] = {}
            row = minutes.get(minute)
            if row is None:
                minutes[minute] = [elapsed]
            else:
                row.append(elapsed)
    return [
        [
            *names,
            pack([[minute, len(row), _counted(row)] for minute, row in sorted(minutes.items())]),
        ]
        for names, minutes in groups.items()
    ]


def _counted(row: list[Any]) -> list[Any]:
    """A minute's response times, sorted, as [value, how many, ...] (None left out); equal
    values (5 and 5.0) count as one, the first read, as in a value → count dict."""
    values = sorted(value for value in row if value is not None)
    flat: list[Any] = []
    for value in values:
        if flat and flat[-2] == value:
            flat[-1] += 1
        else:
            flat += (value, 1)
    return flat


def split_payload(payload: Any, count: int) -> list[Any]:
    """Split a payload into `count` (or fewer) payloads that together answer the same.

    Every reader merges the payloads it is given (as it does a chain's segments), so any
    partition of a payload's groups, codes, event types or anchors is again exact.
    """
    if count <= 1:
        return [payload]
    if isinstance(payload, dict):
        items = list(payload.items())
        size = -(-len(items) // count) or 1
        return [dict(items[i : i + size]) for i in range(0, len(items), size)] or [payload]
    size = -(-len(payload) // count) or 1
    return [payload[i : i + size] for i in range(0, len(payload), size)] or [payload]
