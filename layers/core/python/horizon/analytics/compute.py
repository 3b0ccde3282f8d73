"""Exact metrics, windows and anchor rows over what an executor selected.

Both executors (entries and aggregates) reduce a query to the same inputs — a multiset of
values, or the sorted instants of the matching events, and the anchor events — and this
module turns those into the answer, so the two paths cannot disagree on semantics.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import repeat
from operator import sub
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PERCENTILES = {"p50": 50, "p95": 95, "p99": 99}


def iso_ms(epoch_ms: int) -> str:
    """Return an instant as ISO 8601 UTC with milliseconds and a `Z` (the stored shape)."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def metric_value(metric: str, values: Counter[float | int]) -> tuple[float | int | None, int]:
    """Compute a metric exactly over a multiset of numbers.

    Args:
        metric: count, sum, avg, min, max, p50, p95 or p99.
        values: value → how many matching entries had it.

    Returns:
        (value, n): n is the number of values; value is None for an empty multiset (0 for
        count and sum). Sums are correctly rounded (`math.fsum`), so they do not depend on the
        order the values were read in; percentiles are nearest-rank: the smallest value with
        at least p% of the values at or below it — always a value that occurred.
    """
    n = sum(values.values())
    if metric == "count":
        return n, n
    if metric == "sum":
        return _sum(values), n
    if n == 0:
        return None, 0
    if metric == "avg":
        return _sum(values) / n, n
    if metric == "min":
        return min(values), n
    if metric == "max":
        return max(values), n
    rank = max(1, math.ceil(PERCENTILES[metric] * n / 100))
    seen = 0
    for value in sorted(values):
        seen += values[value]
        if seen >= rank:
            return value, n
    raise AssertionError("unreachable: rank <= n")


def _sum(values: Counter[float | int]) -> float | int:
    if all(type(value) is int for value in values):
        return sum(value * count for value, count in values.items())
    return exact_float_sum(values.items())


def exact_float_sum(weighted: Iterable[tuple[float | int, int]]) -> float:
    """The correctly rounded sum of value × count pairs (what `math.fsum` of every occurrence
    gives, without repeating them): every float is a dyadic fraction, so scaled to a common
    power-of-two denominator the sum is an exact integer, and int / int is correctly rounded.
    """
    ratios = [(value.as_integer_ratio(), count) for value, count in weighted]
    if not ratios:
        return 0.0
    denominator = max(ratio[1] for ratio, _ in ratios)
    total = sum(num * (denominator // den) * count for (num, den), count in ratios)
    return total / denominator


@dataclass(frozen=True)
class Window:
    """A window [start_ms, end_ms), how many matching values it holds, and its metric."""

    start_ms: int
    end_ms: int
    count: int
    value: float | int


def tumbling(instants: list[int], size_ms: int, top: int) -> list[Window]:
    """The `top` fullest clock-aligned windows [k·size, (k+1)·size), fullest first.

    Windows are aligned to the Unix epoch, so 10-minute windows start at HH:M0:00.000 UTC; an
    event exactly on a boundary belongs to the window it starts. Ties go to the earlier window.
    """
    counts: Counter[int] = Counter(instant // size_ms for instant in instants)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [Window(k * size_ms, (k + 1) * size_ms, count, count) for k, count in ranked]


def sliding(instants: list[int], size_ms: int, top: int) -> list[Window]:
    """The `top` fullest sliding windows [t, t + size), fullest first, not overlapping.

    The fullest window of any start can be moved right until it starts at an event without
    losing one, so candidates start at each distinct event instant. The best is taken first;
    each next pick is the fullest candidate not overlapping an earlier pick (otherwise the top
    N would be the same burst shifted by a millisecond). Ties go to the earlier window.

    Args:
        instants: the matching events' epoch ms, sorted.
    """
    if not instants:
        return []
    # For each event i: how many events lie in [t_i, t_i + size). C-level loops (map over
    # bisect) keep this fast for hundreds of thousands of events. A repeated instant's later
    # copies count fewer and start at the same time, so they never win.
    positions = range(len(instants))
    ends = map(bisect_left, repeat(instants), [t + size_ms for t in instants], positions)
    counts = list(map(sub, ends, positions))
    if top == 1:  # the common question: the first maximum is the earliest fullest window
        best = counts.index(max(counts))
        return [Window(instants[best], instants[best] + size_ms, counts[best], counts[best])]
    order = sorted(positions, key=lambda i: (-counts[i], instants[i]))
    picked: list[Window] = []
    for i in order:
        if len(picked) == top:
            break
        start, end = instants[i], instants[i] + size_ms
        if all(end <= p.start_ms or start >= p.end_ms for p in picked):
            picked.append(Window(start, end, counts[i], counts[i]))
    return picked


@dataclass(frozen=True)
class Anchor:
    """An anchor event: its instant, where it came from, and its known fields."""

    timestamp_ms: int
    job_id: str
    line: int
    fields: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "line": self.line,
            **self.fields,
            "timestamp": iso_ms(self.timestamp_ms),
        }


@dataclass(frozen=True)
class AnchorCount:
    anchor: Anchor
    start_ms: int
    end_ms: int
    count: int


def relative(
    instants: list[int], anchors: list[Anchor], duration_ms: int
) -> tuple[list[AnchorCount], int]:
    """Count events in [anchor, anchor + duration) for each anchor.

    Args:
        instants: the matching events' epoch ms, sorted.
        anchors: the anchor events, any order.
        duration_ms: the window after each anchor.

    Returns:
        One row per anchor in time order (then job, line), and how many distinct events fell
        in at least one anchor's window (overlapping windows do not count an event twice).
    """
    ordered = sorted(anchors, key=lambda a: (a.timestamp_ms, a.job_id, a.line))
    rows: list[AnchorCount] = []
    spans: list[tuple[int, int]] = []
    for anchor in ordered:
        start, end = anchor.timestamp_ms, anchor.timestamp_ms + duration_ms
        count = bisect_left(instants, end) - bisect_left(instants, start)
        rows.append(AnchorCount(anchor, start, end, count))
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    union = sum(bisect_left(instants, end) - bisect_left(instants, start) for start, end in spans)
    return rows, union
