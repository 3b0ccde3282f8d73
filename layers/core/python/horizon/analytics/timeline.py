"""Any metric per window or per anchor, over the matching values laid out in time.

An executor selects a timeline: either `Points` (each matching entry's instant and value, from
the entries or an instant index) or `Buckets` (a multiset of values per whole minute, from the
rollups). `by_clock`, `by_sliding` and `by_anchor` turn a timeline into windows or anchor rows
with the metric computed by `compute.metric_value`, so every path shares one definition of
each metric. Count-only questions over points keep the fast paths of `compute`.

The multisets hold the field's values; for `count` without a field each entry contributes
the value None, so the count of a multiset is always its size.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from horizon.analytics.compute import (
    PERCENTILES,
    Anchor,
    Window,
    metric_value,
    sliding,
    tumbling,
)

Multiset = Counter[Any]


@dataclass(frozen=True)
class Points:
    """Matching entries in time order.

    Attributes:
        instants: epoch ms, sorted.
        values: the field's value of each entry (parallel to `instants`), or None when only
            counts are asked for.
    """

    instants: list[int]
    values: list[Any] | None = None

    @property
    def size(self) -> int:
        return len(self.instants)

    def between(self, start_ms: int, end_ms: int) -> Multiset:
        """The multiset of values in [start_ms, end_ms)."""
        low, high = bisect_left(self.instants, start_ms), bisect_left(self.instants, end_ms)
        if self.values is None:
            return Counter({None: high - low}) if high > low else Counter()
        return Counter(self.values[low:high])


@dataclass(frozen=True)
class Buckets:
    """A multiset of values per whole minute: `starts` (epoch ms, sorted, whole minutes)."""

    starts: list[int]
    multisets: list[Multiset]

    @property
    def size(self) -> int:
        return sum(sum(found.values()) for found in self.multisets)

    def between(self, start_ms: int, end_ms: int) -> Multiset:
        """The multiset in [start_ms, end_ms); exact when both bounds are whole minutes."""
        low, high = bisect_left(self.starts, start_ms), bisect_left(self.starts, end_ms)
        return _merged(self.multisets[low:high])


Timeline = Points | Buckets


def by_clock(timeline: Timeline, size_ms: int, metric: str, top: int) -> list[Window]:
    """The `top` clock-aligned windows [k·size, (k+1)·size) with the highest metric value.

    Ties go to the earlier window; windows without values are not candidates. For `Buckets`
    the size must be a whole number of minutes (the caller checks).
    """
    if metric == "count" and isinstance(timeline, Points):
        return tumbling(timeline.instants, size_ms, top)
    grouped: dict[int, Multiset] = {}
    if isinstance(timeline, Points):
        values = timeline.values if timeline.values is not None else [None] * timeline.size
        for instant, value in zip(timeline.instants, values, strict=True):
            window = grouped.get(instant // size_ms)
            if window is None:
                window = grouped[instant // size_ms] = Counter()
            window[value] += 1
    else:
        for start, found in zip(timeline.starts, timeline.multisets, strict=True):
            grouped.setdefault(start // size_ms, Counter()).update(found)
    windows = [
        Window(k * size_ms, (k + 1) * size_ms, n, value)
        for k, found in grouped.items()
        for value, n in (metric_value(metric, found),)
        if n and value is not None
    ]
    windows.sort(key=lambda w: (-w.value, w.start_ms))
    return windows[:top]


def by_sliding(points: Points, size_ms: int, metric: str, top: int) -> list[Window]:
    """The `top` sliding windows [t, t + size) with the highest metric value, not overlapping.

    Candidates start at each distinct instant of a matching entry (for `count` the fullest of
    all windows is one of them; for other metrics these are the windows the answer ranks, as it
    says). The best is taken first, then each next best that overlaps no earlier pick.
    """
    if metric == "count":
        return sliding(points.instants, size_ms, top)
    assert points.values is not None  # other metrics always select values
    candidates = list(_sliding_values(points.instants, points.values, size_ms, metric))
    candidates.sort(key=lambda w: (-w.value, w.start_ms))
    picked: list[Window] = []
    for window in candidates:
        if len(picked) == top:
            break
        if all(window.end_ms <= p.start_ms or window.start_ms >= p.end_ms for p in picked):
            picked.append(window)
    return picked


def _sliding_values(
    instants: list[int], values: list[Any], size_ms: int, metric: str
) -> Iterator[Window]:
    """One window per distinct start instant, its metric kept up to date as it slides.

    A sorted list of the window's values answers min, max and percentiles; for sum and avg an
    exact integer sum (every value scaled to one power-of-two denominator) gives what
    `metric_value` gives, without the error a running float sum would pile up.
    """
    by_order = metric not in ("sum", "avg")
    denominator = max((v.as_integer_ratio()[1] for v in values if type(v) is float), default=1)
    scaled = [] if by_order else [_scaled(value, denominator) for value in values]
    window: list[Any] = []  # sorted (by_order only)
    total = floats = 0  # exact scaled sum; how many of the window's values are floats
    first = end = 0  # the window holds values[first:end]
    for start, instant in enumerate(instants):
        if start and instant == instants[start - 1]:
            continue  # the same window as the previous start
        for leaving in range(first, start):
            if by_order:
                del window[bisect_left(window, values[leaving])]
            else:
                total -= scaled[leaving]
            floats -= type(values[leaving]) is float
        first = start
        limit = instant + size_ms
        while end < len(instants) and instants[end] < limit:
            if by_order:
                insort(window, values[end])
            else:
                total += scaled[end]
            floats += type(values[end]) is float
            end += 1
        n = end - start
        if by_order:
            value = _ranked(metric, window)
        else:
            # As `metric_value`: an int when every value is one, else correctly rounded.
            exact = total // denominator if not floats else total / denominator
            value = exact if metric == "sum" else exact / n
        yield Window(instant, limit, n, value)


def _scaled(value: float | int, denominator: int) -> int:
    numerator, own = value.as_integer_ratio()
    return numerator * (denominator // own)


def _ranked(metric: str, ordered: list[Any]) -> float | int:
    """min, max or a nearest-rank percentile of sorted values (as `metric_value`)."""
    if metric == "min":
        return ordered[0]
    if metric == "max":
        return ordered[-1]
    rank = -(-PERCENTILES[metric] * len(ordered) // 100)
    return ordered[max(1, rank) - 1]


@dataclass(frozen=True)
class AnchorValue:
    """One anchor's row: [start_ms, end_ms), how many values, and the metric over them."""

    anchor: Anchor
    start_ms: int
    end_ms: int
    count: int
    value: float | int | None


def by_anchor(
    timeline: Timeline, anchors: list[Anchor], duration_ms: int, metric: str
) -> tuple[list[AnchorValue], float | int | None, int]:
    """The metric within [anchor, anchor + duration) for each anchor, and over their union.

    Returns:
        Rows in time order (then job, line); the metric over the values that fell in at least
        one anchor's window (overlapping windows do not take a value twice); and their number.
    """
    ordered = sorted(anchors, key=lambda a: (a.timestamp_ms, a.job_id, a.line))
    rows: list[AnchorValue] = []
    spans: list[tuple[int, int]] = []
    for anchor in ordered:
        start, end = anchor.timestamp_ms, anchor.timestamp_ms + duration_ms
        value, n = metric_value(metric, timeline.between(start, end))
        rows.append(AnchorValue(anchor, start, end, n, value))
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    union = _merged(timeline.between(start, end) for start, end in spans)
    value, n = metric_value(metric, union)
    return rows, value, n


def _merged(multisets: Iterable[Multiset]) -> Multiset:
    merged: Multiset = Counter()
    for found in multisets:
        merged.update(found)
    return merged
