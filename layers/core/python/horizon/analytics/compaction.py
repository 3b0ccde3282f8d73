"""Merging a part's segment payloads into the read layout: on the fly, or in bounded passes.

Segments are written in the layout that is cheapest to produce per line (see
`aggregator`); readers want one that is cheap to filter: rollups grouped by (api_id,
endpoint, http_status) with each group's minutes as a nested JSON text, instants grouped by
event type or error code as sorted deltas. Two ways produce it:

- `merge_payloads`: a reader following a job's chain merges it all at once, in memory (the
  chain of a job still processing; the query then holds it anyway).
- `compact_elements` + `encoded_chunks`: a completed job's compaction (see
  `AggregateStore.put_compacted`). It must not hold the job: it goes over the segments in
  several passes, each pass taking one slice of the entries — a hash of (group, minute,
  value) for rollups, every P-th entry for instants — and yields that slice merged, element by
  element (a group's run of minutes, a key's run of instants, an anchor), which the store
  packs into chunks of at most one item each and writes as they fill. Memory per pass is
  bounded by PASS_ENTRIES whatever the job's size; time is passes × one read of the chain.

Every reader takes the union of the payloads it is given — a group, a minute or a key may come
in several of them (see `executors.AggregatesExecutor`) — so any partition of the entries into
chunks answers exactly as the whole merge does. Both ways are pure functions of the chain
(hashes of ints and floats, never of strings, which Python salts per process), which is a pure
function of the committed lines: the same job always compacts to the same bytes.

Read layout per part (one payload per chunk):
- `R` [[api_id, endpoint, http_status, pack([[minute, count, [v, n, v, n, ...]], ...])], ...]:
  per group and minute how many entries, and their response_time_ms values (sorted) with how
  many entries had each.
- `E` [[event_type, pack(deltas of the sorted instants)], ...] (jobs compacted before
  2026-11-22 hold a dict {event_type: packed} instead: readers take both).
- `C` [[error_code, pack(deltas of the sorted instants)], ...].
- `A` [[line, instant, fields], ...].
"""

from __future__ import annotations

import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import compress, groupby
from operator import itemgetter
from typing import Any

import orjson

from horizon.analytics.aggregator import delta, pack, undelta

# Entries one pass takes at most (in expectation for rollups, hashed): a pass's merge holds
# ~150 bytes per distinct rollup value and 8 per instant, so ~15 MB at most.
PASS_ENTRIES = 100_000
# One element at most this many value/count pairs (R) or instants (E, C): elements stay far
# below an item's size, so a chunk can always be made of whole elements.
ELEMENT_VALUES = 8_192
# Before the first chunk is compressed, assume JSON shrinks this much under zlib; afterwards
# each chunk's own ratio sets the next one's raw size.
FIRST_RATIO = 2.0

Segments = Callable[[], Iterable[Any]]
"""A fresh pass over a part's segment payloads along the chain, in line order."""


class ElementTooLargeError(ValueError):
    """One element of the read layout does not fit in an item by itself."""


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
        pairs = [(key, pack(delta(instants))) for key, instants in grouped.items()]
        return payload_of(part, pairs)
    if part == "A":
        return [anchor for payload in payloads for anchor in payload]
    raise ValueError(f"unknown aggregate part {part!r}")


def _merge_rollups(payloads: Iterable[Any]) -> list[Any]:
    """Group the rollup rows by (api_id, endpoint, http_status), then by minute.

    A minute keeps one list of its entries' response times (None for an entry without one)
    until it is packed: a list costs a pointer per entry where a value → count dict costs more.
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


def payload_of(part: str, elements: list[Any]) -> Any:
    """The read-layout payload made of these elements (E's and C's are (key, packed) pairs)."""
    if part in ("E", "C"):
        return [[key, packed] for key, packed in elements]
    return list(elements)


# -- compaction in passes ---------------------------------------------------------------------


def pass_count(valid: int) -> int:
    """How many passes a part of a job with `valid` entries takes: PASS_ENTRIES at most each."""
    return max(1, -(-valid // PASS_ENTRIES))


def compact_elements(part: str, segments: Segments, valid: int) -> Iterator[Any]:
    """Yield the read-layout elements of a part, merging one slice of the entries per pass.

    Args:
        part: R, E, C or A.
        segments: starts a pass over the part's segment payloads (called once per pass).
        valid: the job's valid entries, which sets the number of passes.

    Yields:
        R: [api_id, endpoint, http_status, packed minutes]; E, C: (key, packed deltas);
        A: an anchor. Each element is bounded by ELEMENT_VALUES.

    Raises:
        ValueError: an unknown part.
    """
    if part == "A":
        # Anchors are few and already in line order: a single streaming pass.
        for payload in segments():
            yield from payload
        return
    if part not in ("R", "E", "C"):
        raise ValueError(f"unknown aggregate part {part!r}")
    passes = pass_count(valid)
    for index in range(passes):
        if part == "R":
            yield from _rollup_elements(*_rollup_pass(segments(), index, passes))
        else:
            yield from _instant_elements(_instant_pass(segments(), index, passes))


def _rollup_pass(
    payloads: Iterable[Any], index: int, passes: int
) -> tuple[list[tuple[Any, Any, Any]], Counter[tuple[int, int, Any]]]:
    """Count the rollup rows whose (group, minute, value) hashes to this pass.

    Returns the groups met, in order of appearance, and how many entries had each (group
    number, minute, value) — value None for entries without a response time. Equal triples
    always meet in one pass (5 and 5.0 hash alike, as they are one key) and are counted once,
    so a pass holds about 1/passes of the job's distinct triples, in one flat Counter (~150
    bytes each, counted by `Counter.update` in C).
    """
    numbers: dict[tuple[Any, Any, Any], int] = {}
    counts: Counter[tuple[int, int, Any]] = Counter()
    for payload in payloads:
        apis, endpoints, statuses, minutes, elapsed = payload
        names: Iterable[tuple[Any, Any, Any]] = zip(apis, endpoints, statuses, strict=True)
        if passes > 1:
            chosen = _in_pass(payload, index, passes)
            names = compress(names, chosen)
            minutes, elapsed = compress(minutes, chosen), compress(elapsed, chosen)
        named = list(names)
        for key in dict.fromkeys(named):
            if key not in numbers:
                numbers[key] = len(numbers)
        counts.update(zip(map(numbers.__getitem__, named), minutes, elapsed, strict=True))
    return list(numbers), counts


def _in_pass(payload: list[list[Any]], index: int, passes: int) -> list[bool]:
    """Per row of a segment's rollup columns: does its (group, minute, value) fall in this pass?

    A group hashes as the CRC of its JSON (str hashes are salted per process; these must not
    be, so that a job always compacts to the same chunks).
    """
    apis, endpoints, statuses, minutes, elapsed = payload
    names = list(zip(apis, endpoints, statuses, strict=True))
    crc = {key: zlib.crc32(orjson.dumps(key)) for key in set(names)}
    return [
        hash((group, minute, -1 if value is None else value)) % passes == index
        for group, minute, value in zip(map(crc.__getitem__, names), minutes, elapsed, strict=True)
    ]


def _rollup_elements(
    groups: list[tuple[Any, Any, Any]], counts: Counter[tuple[int, int, Any]]
) -> Iterator[list[Any]]:
    """A pass's counts as R rows, a group's minutes in runs of at most ELEMENT_VALUES values
    (a minute with more is split into rows whose counts add up to the minute's)."""
    ordered = sorted(counts, key=_rollup_order)
    for number, of_group in groupby(ordered, key=itemgetter(0)):
        rows: list[list[Any]] = []
        size = 0
        for minute, of_minute in groupby(of_group, key=itemgetter(1)):
            without = 0  # entries without a response time: counted, no value
            pairs: list[tuple[Any, int]] = []
            for key in of_minute:
                if key[2] is None:
                    without = counts.pop(key)
                else:
                    pairs.append((key[2], counts.pop(key)))
            for first in range(0, max(len(pairs), 1), ELEMENT_VALUES):
                piece = pairs[first : first + ELEMENT_VALUES]
                count = sum(n for _, n in piece) + (without if first == 0 else 0)
                rows.append([minute, count, [item for pair in piece for item in pair]])
                size += len(piece)
                if size >= ELEMENT_VALUES:
                    yield [*groups[number], pack(rows)]
                    rows, size = [], 0
        if rows:
            yield [*groups[number], pack(rows)]


def _rollup_order(key: tuple[int, int, Any]) -> tuple[int, int, Any]:
    """Group number, minute, value (None, never a response time, first)."""
    return key if key[2] is not None else (key[0], key[1], -1)


def _instant_pass(payloads: Iterable[Any], index: int, passes: int) -> dict[Any, array[int]]:
    """Collect the instants of every `passes`-th entry (from the `index`-th on), per key.

    Dealing entries out by position keeps every pass the same size, however skewed the keys or
    instants are; instants are kept as int64 arrays (8 bytes each).
    """
    grouped: dict[Any, array[int]] = {}
    seen = 0
    for keys, gaps in payloads:
        first = (index - seen) % passes
        seen += len(keys)
        instants = undelta(gaps)
        for key, instant in zip(keys[first::passes], instants[first::passes], strict=True):
            found = grouped.get(key)
            if found is None:
                grouped[key] = array("q", (instant,))
            else:
                found.append(instant)
    return grouped


def _instant_elements(grouped: dict[Any, array[int]]) -> Iterator[tuple[Any, str]]:
    """A pass's keys as (key, packed deltas), in sorted runs of at most ELEMENT_VALUES."""
    for key in list(grouped):
        ordered = sorted(grouped.pop(key))
        for start in range(0, len(ordered), ELEMENT_VALUES):
            yield key, pack(delta(ordered[start : start + ELEMENT_VALUES]))


# -- chunks -----------------------------------------------------------------------------------


def encoded_chunks(
    part: str, elements: Iterable[Any], encode: Callable[[Any], bytes], max_bytes: int
) -> Iterator[bytes]:
    """Pack elements into encoded payloads of at most `max_bytes`, each yielded once full.

    At least one chunk is yielded (an empty payload for no elements). Holds one chunk's
    elements at a time.

    Raises:
        ElementTooLargeError: a single element does not fit in `max_bytes`.
    """
    pending: list[Any] = []
    raw = 0
    ratio = FIRST_RATIO
    produced = False
    for element in elements:
        pending.append(element)
        raw += len(orjson.dumps(element))
        if raw >= max_bytes * ratio:
            blobs = list(_fitted(part, pending, encode, max_bytes))
            # Aim the next chunk at ~90 % of an item, from what this one compressed to.
            ratio = max(1.0, 0.9 * raw / sum(len(blob) for blob in blobs))
            yield from blobs
            produced, pending, raw = True, [], 0
    if pending or not produced:
        yield from _fitted(part, pending, encode, max_bytes)


def _fitted(
    part: str, elements: list[Any], encode: Callable[[Any], bytes], max_bytes: int
) -> Iterator[bytes]:
    """Encode the elements as one payload, or halve them until each half fits."""
    blob = encode(payload_of(part, elements))
    if len(blob) <= max_bytes:
        yield blob
        return
    if len(elements) <= 1:
        raise ElementTooLargeError(f"an element of part {part} is {len(blob)} bytes encoded")
    middle = len(elements) // 2
    yield from _fitted(part, elements[:middle], encode, max_bytes)
    yield from _fitted(part, elements[middle:], encode, max_bytes)
