"""Merging a finished job's committed segment payloads into one payload per part.

When a job completes, the ingest reads each part's committed chain (verified against the
job's final counts, exactly as a query would) and stores the merge of its payloads as one
compacted item (see `AggregateStore.put_compacted`). The merge is a pure function of the chain,
which is a pure function of the committed lines, so the compacted payload answers every question
exactly as the chain does: the same rollup multisets, the same instants, the same anchors.
The merged payload has the format of a segment payload, so readers need no second code path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from horizon.analytics.aggregator import delta, pack, undelta, unpack


def merge_payloads(part: str, payloads: Iterable[Any]) -> Any:
    """Merge the payloads of one part (in line order) into a single payload.

    Args:
        part: R, E, C or A.
        payloads: the part's payloads along the committed chain, in line order.

    Returns:
        One payload in the same format as a segment's.

    Raises:
        ValueError: an unknown part.
    """
    if part == "R":
        return _merge_rollups(payloads)
    if part == "E":
        merged_events: dict[str, list[int]] = {}
        for payload in payloads:
            for name, deltas in payload.items():
                merged_events.setdefault(name, []).extend(undelta(unpack(deltas)))
        return {name: pack(delta(instants)) for name, instants in merged_events.items()}
    if part == "C":
        # Codes are JSON values; key them by their JSON text (never conflate 1 and true).
        codes: dict[bytes, tuple[Any, list[int]]] = {}
        for payload in payloads:
            for code, deltas in payload:
                key = orjson.dumps(code)
                codes.setdefault(key, (code, []))[1].extend(undelta(unpack(deltas)))
        return [[code, pack(delta(instants))] for code, instants in codes.values()]
    if part == "A":
        return [anchor for payload in payloads for anchor in payload]
    raise ValueError(f"unknown aggregate part {part!r}")


def _merge_rollups(payloads: Iterable[Any]) -> list[Any]:
    """Sum the per-minute counts and value multisets of each (api_id, endpoint, status)."""
    groups: dict[bytes, tuple[list[Any], dict[int, list[Any]]]] = {}
    for payload in payloads:
        for api_id, endpoint, status, minutes in payload:
            key = orjson.dumps([api_id, endpoint, status])
            found = groups.get(key)
            if found is None:
                found = groups[key] = ([api_id, endpoint, status], {})
            merged = found[1]
            for minute, count, flat in unpack(minutes):
                row = merged.get(minute)
                if row is None:
                    row = merged[minute] = [0, {}]
                row[0] += count
                values = row[1]
                for index in range(0, len(flat), 2):
                    value = flat[index]
                    values[value] = values.get(value, 0) + flat[index + 1]
    return [
        [
            *names,
            pack(
                [
                    [minute, count, [item for pair in sorted(values.items()) for item in pair]]
                    for minute, (count, values) in sorted(minutes.items())
                ]
            ),
        ]
        for names, minutes in groups.values()
    ]


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
