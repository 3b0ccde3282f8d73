"""Any metric per window and per anchor over points or per-minute buckets, checked against
brute force over the same values (no AWS)."""

from __future__ import annotations

import math
import random
from collections import Counter
from itertools import pairwise

import pytest

from horizon.analytics.compute import Anchor, exact_float_sum, metric_value
from horizon.analytics.timeline import Buckets, Points, by_anchor, by_clock, by_sliding

MINUTE = 60_000
METRICS = ("count", "sum", "avg", "min", "max", "p50", "p95", "p99")


def random_points(seed: int, granule: int = 1) -> Points:
    """Sorted instants (repeats included) with int and float values."""
    rng = random.Random(seed)
    instants = sorted(rng.randrange(0, 40 * MINUTE) // granule * granule for _ in range(300))
    values = [rng.choice([rng.randrange(0, 500), rng.random() * 900, 0.1]) for _ in instants]
    return Points(instants, values)


def brute(points: Points, start: int, end: int, metric: str) -> tuple[object, int]:
    assert points.values is not None
    inside = [v for t, v in zip(points.instants, points.values, strict=True) if start <= t < end]
    return metric_value(metric, Counter(inside))


def as_buckets(points: Points) -> Buckets:
    """The same values as a multiset per minute (the rollups' shape)."""
    assert points.values is not None
    per_minute: dict[int, Counter] = {}
    for instant, value in zip(points.instants, points.values, strict=True):
        per_minute.setdefault(instant - instant % MINUTE, Counter())[value] += 1
    starts = sorted(per_minute)
    return Buckets(starts, [per_minute[s] for s in starts])


@pytest.mark.parametrize("seed", range(8))
def test_exact_float_sum_is_the_correctly_rounded_sum(seed: int) -> None:
    rng = random.Random(seed)
    values = Counter(
        rng.choice([rng.random() * 10 ** rng.randrange(-5, 9), 0.1, 3]) for _ in range(400)
    )
    assert exact_float_sum(values.items()) == math.fsum(values.elements())


@pytest.mark.parametrize("metric", METRICS)
def test_sliding_windows_match_brute_force(metric: str) -> None:
    for seed in range(4):
        points = random_points(seed)
        size = 3 * MINUTE
        found = by_sliding(points, size, metric, top=3)
        candidates = sorted(
            (
                (brute(points, start, start + size, metric), start)
                for start in sorted(set(points.instants))
            ),
            key=lambda item: (-item[0][0], item[1]),
        )
        (best_value, best_n), best_start = candidates[0]
        assert (found[0].value, found[0].count, found[0].start_ms) == (
            best_value,
            best_n,
            best_start,
        )
        # Every pick is the window it says, and picks never overlap.
        for window in found:
            assert (window.value, window.count) == brute(
                points, window.start_ms, window.end_ms, metric
            )
        spans = sorted((w.start_ms, w.end_ms) for w in found)
        assert all(a[1] <= b[0] for a, b in pairwise(spans))


@pytest.mark.parametrize("metric", METRICS)
def test_clock_windows_agree_between_points_and_minute_buckets(metric: str) -> None:
    points = random_points(11)
    size = 10 * MINUTE
    from_points = by_clock(points, size, metric, top=4)
    assert from_points == by_clock(as_buckets(points), size, metric, top=4)
    for window in from_points:
        assert (window.value, window.count) == brute(points, window.start_ms, window.end_ms, metric)
    values = [w.value for w in from_points]
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize("metric", METRICS)
def test_anchor_rows_and_union_match_brute_force(metric: str) -> None:
    points = random_points(5)
    duration = 5 * MINUTE
    starts = [7 * MINUTE, 0, 9 * MINUTE, 30 * MINUTE]  # 7m and 9m overlap
    anchors = [Anchor(t, "deploys", line, {}) for line, t in enumerate(starts, 1)]
    rows, value, n = by_anchor(points, anchors, duration, metric)
    assert [row.start_ms for row in rows] == sorted(starts)
    for row in rows:
        assert (row.value, row.count) == brute(points, row.start_ms, row.end_ms, metric)
    assert points.values is not None
    union = [
        v
        for t, v in zip(points.instants, points.values, strict=True)
        if any(a <= t < a + duration for a in starts)
    ]
    assert (value, n) == metric_value(metric, Counter(union))
    # Whole-minute anchors: the per-minute buckets give the same rows.
    assert by_anchor(as_buckets(points), anchors, duration, metric) == (rows, value, n)


def test_counting_without_values() -> None:
    points = Points([0, 0, MINUTE, 11 * MINUTE])
    (window,) = by_clock(points, 10 * MINUTE, "count", top=1)
    assert (window.start_ms, window.count, window.value) == (0, 3, 3)
    rows, value, n = by_anchor(points, [Anchor(0, "d", 1, {})], MINUTE, "count")
    assert (rows[0].count, rows[0].value, value, n) == (2, 2, 2, 2)


def test_sum_of_ints_stays_an_int_in_sliding_windows() -> None:
    points = Points([0, 1, 2 * MINUTE], [1, 2, 0.5])
    first, second = sorted(by_sliding(points, MINUTE, "sum", top=2), key=lambda w: w.start_ms)
    assert (first.value, type(first.value)) == (3, int)
    assert (second.value, type(second.value)) == (0.5, float)
