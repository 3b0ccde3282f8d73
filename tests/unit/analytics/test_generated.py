"""A larger generated log, several checkpointed segments, checked against an independent
computation written here (plain Python over the generated rows)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

import pytest

from horizon.analytics import QueryAnswer, QueryBody, QueryService
from horizon.analytics.compute import iso_ms
from tests.unit.analytics.conftest import OWNER
from tests.unit.analytics.generated import best_sliding, generate, nearest_rank

LINES = 4000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


TEN_MINUTES = 600_000


@pytest.fixture
def generated(ingest):
    rows, truth = generate(LINES)
    # Checkpoints every 450 lines: about nine segments, so merging is exercised.
    return ingest(rows, checkpoint_lines=450), truth


def test_question_1_metrics(generated, ask) -> None:
    job, truth = generated
    selected = [
        r["response_time_ms"]
        for r in truth
        if r.get("api_id") == "api-2"
        and r.get("endpoint") == "/users/{id}"
        and r.get("http_status") == 200
        and r.get("response_time_ms", 0) > 100
    ]
    assert len(selected) > 20
    query = {
        "job_ids": [job],
        "field": "response_time_ms",
        "filter": {
            "api_id": "api-2",
            "endpoint": "/users/{id}",
            "http_status": 200,
            "response_time_ms": {"gt": 100},
        },
    }
    expected = {
        "count": len(selected),
        "sum": math.fsum(selected),
        "avg": math.fsum(selected) / len(selected),
        "min": min(selected),
        "max": max(selected),
        "p50": nearest_rank(selected, 50),
        "p95": nearest_rank(selected, 95),
        "p99": nearest_rank(selected, 99),
    }
    # The entries path is checked against the aggregates once; the truth checks every metric.
    ask({**query, "metric": "avg"}, source="aggregates")
    for metric, value in expected.items():
        body = QueryBody.model_validate({**query, "metric": metric})
        answer = QueryService().run(OWNER, body)
        assert answer.source == "aggregates"
        assert answer.value == value, metric
        assert answer.n == len(selected)


def test_question_2_windows(generated, ask) -> None:
    job, truth = generated
    failures = sorted(r["ms"] for r in truth if r.get("event_type") == "login_failure")
    clock = Counter(t // TEN_MINUTES for t in failures)
    (k, count), *_ = sorted(clock.items(), key=lambda item: (-item[1], item[0]))
    query = {"job_ids": [job], "metric": "count", "filter": {"event_type": "login_failure"}}
    answer = ask({**query, "window": {"size": "10m"}}, source="aggregates")
    assert answer.value == count and answer.n == len(failures)
    assert answer.windows[0].count == count
    assert answer.windows[0].start == iso_ms(k * TEN_MINUTES)
    sliding_count, start = best_sliding(failures, TEN_MINUTES)
    answer = ask({**query, "window": {"size": "10m", "mode": "sliding"}}, source="aggregates")
    assert answer.value == sliding_count >= count
    assert answer.windows[0].start == iso_ms(start)


def test_question_3_relative_counts(ingest, generated, ask) -> None:
    job, truth = generated
    deploy_rows = [
        {"timestamp": "2026-11-22T08:10:00Z", "version_id": "version-v1"},
        {"timestamp": "2026-11-22T09:00:00.500+01:00", "version_id": "version-v2"},
        {"timestamp": "2026-11-22T08:31:00", "version_id": "version-v3"},
    ]
    deploys = ingest(deploy_rows)
    anchors = [ms("2026-11-22T08:10:00+00:00"), ms("2026-11-22T08:00:00.500+00:00")]
    anchors.append(ms("2026-11-22T08:31:00+00:00"))
    errors = [r["ms"] for r in truth if r.get("error_code") == 500]
    query = {
        "job_ids": [job],
        "metric": "count",
        "filter": {"error_code": 500},
        "relative_to": {"job_ids": [deploys], "duration": "5m"},
    }
    answer = ask(query, source="aggregates")
    expected = {a: sum(1 for t in errors if a <= t < a + 300_000) for a in sorted(anchors)}
    assert [row.count for row in answer.rows] == list(expected.values())
    assert answer.value == sum(1 for t in errors if any(a <= t < a + 300_000 for a in anchors))
    assert answer.value > 0


def test_counts_with_other_filters(generated, ask) -> None:
    job, truth = generated
    query = {"job_ids": [job], "metric": "count", "filter": {"http_status": {"gte": 400}}}
    assert ask(query, "aggregates").value == sum(1 for r in truth if r.get("http_status", 0) >= 400)
    query = {"job_ids": [job], "metric": "count", "filter": {"error_code": {"in": [502, 404]}}}
    expected = sum(1 for r in truth if r.get("error_code") in (502, 404))
    assert ask(query, "aggregates").value == expected
    query = {"job_ids": [job], "metric": "count", "filter": {"level": "INFO"}}
    assert ask(query, "entries").value == len(truth)


def planned(query: dict, source: str) -> QueryAnswer:
    """The planner's answer alone (the entries' reference costs a full read each time)."""
    answer = QueryService().run(OWNER, QueryBody.model_validate(query))
    assert answer.source == source
    return answer


def _response_times(truth: list[dict], api_id: str) -> list[tuple[int, float]]:
    """(instant, response_time_ms) of the rows of one api that have one, in time order."""
    return sorted(
        (r["ms"], r["response_time_ms"])
        for r in truth
        if r.get("api_id") == api_id and "response_time_ms" in r
    )


RT = {"field": "response_time_ms", "filter": {"api_id": "api-2"}}


def test_average_per_clock_window(generated, ask) -> None:
    job, truth = generated
    timed = _response_times(truth, "api-2")
    by_window: dict[int, list[float]] = {}
    for instant, value in timed:
        by_window.setdefault(instant // TEN_MINUTES, []).append(value)
    ranked = sorted(
        ((math.fsum(vs) / len(vs), k, len(vs)) for k, vs in by_window.items()),
        key=lambda item: (-item[0], item[1]),
    )[:3]
    query = {**RT, "job_ids": [job], "metric": "avg", "window": {"size": "10m"}, "top": 3}
    answer = ask(query, "aggregates")
    assert [(w.start, w.value, w.count) for w in answer.windows] == [
        (iso_ms(k * TEN_MINUTES), value, n) for value, k, n in ranked
    ]
    assert answer.n == len(timed)


def test_sliding_p95_and_max_against_brute_force(generated) -> None:
    job, truth = generated
    timed = _response_times(truth, "api-2")
    size = 5 * 60_000
    for metric, pick in (("p95", lambda vs: nearest_rank(vs, 95)), ("max", max)):
        best = min(
            (
                (-pick([v for t, v in timed if start <= t < start + size]), start)
                for start in sorted({t for t, _ in timed})
            ),
        )
        query = {**RT, "job_ids": [job], "metric": metric}
        answer = planned({**query, "window": {"size": "5m", "mode": "sliding"}}, "entries")
        assert (answer.windows[0].value, answer.windows[0].start) == (-best[0], iso_ms(best[1]))


@pytest.mark.parametrize(("offset_ms", "source"), [(0, "aggregates"), (500, "entries")])
def test_metrics_after_each_deployment(ingest, generated, ask, offset_ms, source) -> None:
    job, truth = generated
    anchors = [ms("2026-11-22T08:10:00+00:00") + offset_ms, ms("2026-11-22T08:31:00+00:00")]
    deploys = ingest(
        [{"timestamp": iso_ms(a), "version_id": f"v{n}"} for n, a in enumerate(anchors)]
    )
    timed = _response_times(truth, "api-2")
    size = 5 * 60_000
    relative_to = {"job_ids": [deploys], "duration": "5m"}
    query = {**RT, "job_ids": [job], "relative_to": relative_to}
    # Each entries answer reads every entry: the aggregates are checked against the entries
    # once, and the truth checks every metric; the entries path (one code path for all
    # metrics) is checked on one.
    metrics = ("p95", "avg", "min") if source == "aggregates" else ("p95",)
    if source == "aggregates":
        ask({**query, "metric": "p95"}, source)
    for metric in metrics:
        answer = planned({**query, "metric": metric}, source)
        for row, anchor in zip(answer.rows, anchors, strict=True):
            values = [v for t, v in timed if anchor <= t < anchor + size]
            assert row.count == len(values) > 0
            if metric == "p95":
                assert row.value == nearest_rank(values, 95)
            elif metric == "avg":
                assert row.value == math.fsum(values) / len(values)
            else:
                assert row.value == min(values)
