"""Exact metrics, windows and anchor rows over selected values and instants (no AWS)."""

from __future__ import annotations

import random
import statistics
from collections import Counter

import pytest

from horizon.analytics.compute import Anchor, iso_ms, metric_value, relative, sliding, tumbling

MINUTE = 60_000


def test_metrics_over_a_multiset() -> None:
    values = Counter({10: 2, 20: 1, 30.5: 1})
    assert metric_value("count", values) == (4, 4)
    assert metric_value("sum", values) == (70.5, 4)
    assert metric_value("avg", values) == (70.5 / 4, 4)
    assert metric_value("min", values) == (10, 4)
    assert metric_value("max", values) == (30.5, 4)
    assert metric_value("p50", values) == (10, 4)  # rank ceil(0.5·4) = 2 → the second 10
    assert metric_value("p95", values) == (30.5, 4)


def test_empty_multiset() -> None:
    assert metric_value("count", Counter()) == (0, 0)
    assert metric_value("sum", Counter()) == (0, 0)
    for metric in ("avg", "min", "max", "p50", "p99"):
        assert metric_value(metric, Counter()) == (None, 0)


@pytest.mark.parametrize("p", [50, 95, 99])
def test_nearest_rank_percentile_matches_sorting(p: int) -> None:
    rng = random.Random(p)
    raw = [rng.randint(0, 50) for _ in range(1001)]
    ordered = sorted(raw)
    expected = ordered[-(-p * len(raw) // 100) - 1]
    assert metric_value(f"p{p}", Counter(raw)) == (expected, len(raw))


def test_sum_of_floats_does_not_depend_on_order() -> None:
    raw = [0.1] * 10 + [1e16, -1e16]
    assert metric_value("sum", Counter(raw))[0] == pytest.approx(1.0, abs=0)
    assert metric_value("avg", Counter([1.5, 2.5, 3.25]))[0] == statistics.fmean([1.5, 2.5, 3.25])


def test_tumbling_windows_are_clock_aligned_and_boundary_events_start_the_next() -> None:
    size = 10 * MINUTE
    instants = [0, size - 1, size, size + 1, size + 2, 3 * size]
    windows = tumbling(instants, size, top=3)
    assert [(w.start_ms, w.end_ms, w.count) for w in windows] == [
        (size, 2 * size, 3),
        (0, size, 2),
        (3 * size, 4 * size, 1),
    ]


def test_tumbling_ties_go_to_the_earlier_window() -> None:
    windows = tumbling([5, 10 * MINUTE + 5], 10 * MINUTE, top=1)
    assert windows[0].start_ms == 0


def test_sliding_finds_a_burst_across_a_clock_boundary() -> None:
    size = 10 * MINUTE
    # Three events straddle the 10-minute boundary; each clock window holds only two of them.
    instants = [9 * MINUTE, 9 * MINUTE + 30_000, 11 * MINUTE, 12 * MINUTE, 30 * MINUTE]
    assert tumbling(instants, size, 1)[0].count == 2
    best = sliding(instants, size, top=2)
    assert (best[0].start_ms, best[0].end_ms, best[0].count) == (9 * MINUTE, 19 * MINUTE, 4)
    assert (best[1].start_ms, best[1].count) == (30 * MINUTE, 1)  # the next that does not overlap


def test_sliding_window_excludes_its_end() -> None:
    best = sliding([0, 10 * MINUTE], 10 * MINUTE, top=1)
    assert best[0].count == 1


def test_relative_rows_and_their_union() -> None:
    anchors = [
        Anchor(10 * MINUTE, "d", 2, {"version_id": "v2"}),
        Anchor(0, "d", 1, {"version_id": "v1"}),
    ]
    # v1 covers [0, 5m), v2 [10m, 15m); 5m exactly is excluded from v1.
    instants = [0, MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE - 1, 15 * MINUTE]
    rows, union = relative(instants, anchors, 5 * MINUTE)
    assert [(r.anchor.fields["version_id"], r.count) for r in rows] == [("v1", 2), ("v2", 2)]
    assert union == 4
    overlapping = [Anchor(0, "d", 1, {}), Anchor(MINUTE, "d", 2, {})]
    rows, union = relative(instants, overlapping, 5 * MINUTE)
    assert [r.count for r in rows] == [2, 2]  # [0, 5m) and [1m, 6m)
    assert union == 3  # 0, 1m and 5m: the event at 1 minute is in both, counted once


def test_iso_ms() -> None:
    assert iso_ms(1_714_557_600_123) == "2024-05-01T10:00:00.123Z"


@pytest.mark.parametrize("seed", range(20))
def test_fullest_sliding_window_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([1000, 60_000, 600_000])
    instants = sorted(rng.randrange(0, 40 * size) for _ in range(rng.randrange(0, 300)))
    best = (0, 0)
    for start in sorted(set(instants)):
        count = sum(1 for t in instants if start <= t < start + size)
        if count > best[0]:
            best = (count, start)
    found = sliding(instants, size, top=1)
    if not instants:
        assert found == []
        return
    assert (found[0].count, found[0].start_ms) == best
    # The unpruned path (top > 1) agrees on the fullest window.
    assert (sliding(instants, size, top=2)[0].count, sliding(instants, size, 2)[0].start_ms) == best
