"""The issue's three questions on small hand-made logs whose answers are known, with edge
cases. Every answer is also computed from the entries alone and must be identical."""

from __future__ import annotations

import pytest

REQ = {"api_id": "api-123", "endpoint": "/users/{id}"}


def request(ts: str, ms: float | None, status: int = 200, **fields: object) -> dict:
    row: dict = {"timestamp": ts, **REQ, "http_status": status, **fields}
    if ms is not None:
        row["response_time_ms"] = ms
    return row


API_LOG = [
    request("2026-11-22T10:00:00Z", 50),
    request("2026-11-22T10:00:01Z", 100),  # not > 100
    request("2026-11-22T10:00:02Z", 150),
    request("2026-11-22T10:01:00.250Z", 250.5),
    request("2026-11-22T10:02:00", 300),  # naive: UTC
    request("2026-11-22T12:03:00+02:00", 400),  # zoned: 10:03 UTC
    request("2026-11-22T10:03:30Z", 999, status=500),  # wrong status
    {**request("2026-11-22T10:03:31Z", 700), "endpoint": "/orders"},  # wrong endpoint
    {**request("2026-11-22T10:03:32Z", 800), "api_id": "api-9"},  # wrong api
    request("2026-11-22T10:03:33Z", None),  # no response time
    "not json",
    request("2026-11-22T10:04:00Z", 101),
]
Q1 = {
    "metric": "avg",
    "field": "response_time_ms",
    "filter": {**REQ, "http_status": 200, "response_time_ms": {"gt": 100}},
}
SLOW = [150, 250.5, 300, 400, 101]


def test_question_1_average_of_slow_successful_requests(ingest, ask) -> None:
    job = ingest(API_LOG)
    answer = ask({**Q1, "job_ids": [job]}, source="aggregates")
    assert answer.value == pytest.approx(sum(SLOW) / len(SLOW))
    assert answer.n == 5
    assert answer.exact is True


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("count", 5), ("sum", sum(SLOW)), ("min", 101), ("max", 400), ("p50", 250.5), ("p99", 400)],
)
def test_question_1_other_metrics(ingest, ask, metric: str, expected: float) -> None:
    job = ingest(API_LOG)
    answer = ask({**Q1, "metric": metric, "job_ids": [job]}, source="aggregates")
    assert answer.value == expected


def test_plain_count_counts_entries_without_the_field(ingest, ask) -> None:
    job = ingest(API_LOG)
    query = {"job_ids": [job], "metric": "count", "filter": {**REQ, "http_status": 200}}
    assert ask(query, source="aggregates").value == 8  # 7 timed + 1 without response time
    query["field"] = "response_time_ms"
    assert ask(query, source="aggregates").value == 7


def test_minute_aligned_range_uses_rollups_and_excludes_to(ingest, ask) -> None:
    job = ingest(API_LOG)
    time = {"from": "2026-11-22T10:01:00Z", "to": "2026-11-22T10:03:00Z"}
    query = {**Q1, "job_ids": [job], "metric": "count"}
    query["filter"] = {**Q1["filter"], "timestamp": time}
    answer = ask(query, source="aggregates")
    assert answer.value == 2  # 10:01:00.250 and 10:02:00; 10:03:00 (zoned) is at `to`


def test_millisecond_range_falls_back_to_entries_and_is_exact(ingest, ask) -> None:
    job = ingest(API_LOG)
    time = {"from": "2026-11-22T10:01:00.250Z", "to": "2026-11-22T10:02:00.000"}
    query = {**Q1, "job_ids": [job], "metric": "count"}
    query["filter"] = {**Q1["filter"], "timestamp": time}
    answer = ask(query, source="entries")
    assert answer.value == 1  # from inclusive at the exact millisecond, naive `to` excluded
    time["from"] = "2026-11-22T10:01:00.2501Z"  # sub-ms: after the entry's millisecond
    assert ask(query).value == 0


def test_empty_results(ingest, ask) -> None:
    job = ingest(API_LOG)
    query = {**Q1, "job_ids": [job], "filter": {"api_id": "nobody"}}
    answer = ask(query, source="aggregates")
    assert (answer.value, answer.n) == (None, 0)
    query["metric"] = "count"
    assert ask(query, source="aggregates").value == 0


def test_other_fields_and_operators_are_answered_from_entries(ingest, ask) -> None:
    job = ingest(API_LOG)
    query = {
        "job_ids": [job],
        "metric": "max",
        "field": "response_time_ms",
        "filter": {"endpoint": {"ne": "/users/{id}"}, "http_status": {"in": [200, 201]}},
    }
    assert ask(query, source="aggregates").value == 700
    query = {"job_ids": [job], "metric": "max", "field": "http_status", "filter": {}}
    assert ask(query, source="entries").value == 500


LOGIN_LOG = [
    {"timestamp": "2026-11-22T09:59:59.999Z", "event_type": "login_failure"},
    {"timestamp": "2026-11-22T10:00:00.000Z", "event_type": "login_failure"},  # on the boundary
    {"timestamp": "2026-11-22T10:05:00Z", "event_type": "login_success"},
    {"timestamp": "2026-11-22T10:09:59.999Z", "event_type": "login_failure"},
    {"timestamp": "2026-11-22T10:10:00Z", "event_type": "login_failure"},
    {"timestamp": "2026-11-22T10:12:00", "event_type": "login_failure"},
    {"timestamp": "2026-11-22T12:13:00+02:00", "event_type": "login_failure"},  # 10:13 UTC
    {"timestamp": "2026-11-22T10:19:00Z", "event_type": "login_failure"},
    {"timestamp": "2026-11-22T11:00:00Z", "event_type": "login_failure"},
]
Q2 = {"metric": "count", "filter": {"event_type": "login_failure"}}


def test_question_2_tumbling_windows(ingest, ask) -> None:
    job = ingest(LOGIN_LOG)
    answer = ask({**Q2, "job_ids": [job], "window": {"size": "10m"}, "top": 3}, "aggregates")
    assert answer.window == {"size": "10m", "mode": "tumbling"}
    assert [(w.start, w.end, w.count) for w in answer.windows] == [
        ("2026-11-22T10:10:00.000Z", "2026-11-22T10:20:00.000Z", 4),
        ("2026-11-22T10:00:00.000Z", "2026-11-22T10:10:00.000Z", 2),
        ("2026-11-22T09:50:00.000Z", "2026-11-22T10:00:00.000Z", 1),
    ]
    assert (answer.value, answer.n) == (4, 8)


def test_question_2_sliding_windows(ingest, ask) -> None:
    job = ingest(LOGIN_LOG)
    query = {**Q2, "job_ids": [job], "window": {"size": "10m", "mode": "sliding"}, "top": 2}
    answer = ask(query, "aggregates")
    # 10:09:59.999 to 10:19:59.999 holds five (10:09:59.999, 10:10, 10:12, 10:13, 10:19).
    first, second = answer.windows
    assert (first.start, first.end, first.count) == (
        "2026-11-22T10:09:59.999Z",
        "2026-11-22T10:19:59.999Z",
        5,
    )
    assert (second.start, second.count) == ("2026-11-22T09:59:59.999Z", 2)
    assert answer.value == 5


def test_question_2_with_no_matching_events(ingest, ask) -> None:
    job = ingest(LOGIN_LOG)
    query = {"job_ids": [job], "metric": "count", "filter": {"event_type": "nope"}}
    answer = ask({**query, "window": {"size": "10m"}}, "aggregates")
    assert (answer.value, answer.n, answer.windows) == (0, 0, [])


DEPLOYS = [
    {"timestamp": "2026-11-22T10:00:00Z", "event_type": "deployment", "version_id": "version-v1"},
    {"timestamp": "2026-11-22T10:30:00Z", "event_type": "deployment", "version_id": "version-v2"},
    {"timestamp": "2026-11-22T10:32:00Z", "event_type": "deployment", "version_id": "version-v3"},
]
ERRORS = [
    {"timestamp": "2026-11-22T09:59:59.999Z", "error_code": 500},  # before v1
    {"timestamp": "2026-11-22T10:00:00Z", "error_code": 500},  # at v1: from inclusive
    {"timestamp": "2026-11-22T10:04:59.999Z", "error_code": 500},
    {"timestamp": "2026-11-22T10:05:00Z", "error_code": 500},  # to excluded
    {"timestamp": "2026-11-22T10:01:00Z", "error_code": 404},
    {"timestamp": "2026-11-22T10:31:00", "error_code": 500},  # v2 only
    {"timestamp": "2026-11-22T12:33:00+02:00", "error_code": 500},  # 10:33: v2 and v3
    {"timestamp": "2026-11-22T10:36:30.5Z", "error_code": 500},  # v3 only
]


def test_question_3_errors_after_a_named_deployment(ingest, ask) -> None:
    deploys, errors = ingest(DEPLOYS, "deployments.log.jsonl"), ingest(ERRORS)
    query = {
        "job_ids": [errors],
        "metric": "count",
        "filter": {"error_code": 500},
        "relative_to": {
            "job_ids": [deploys],
            "filter": {"version_id": "version-v2"},
            "duration": "5m",
        },
    }
    answer = ask(query, "aggregates")
    (row,) = answer.rows
    assert row.anchor["version_id"] == "version-v2"
    assert row.anchor["job_id"] == deploys and row.anchor["line"] == 2
    assert (row.start, row.end, row.count) == (
        "2026-11-22T10:30:00.000Z",
        "2026-11-22T10:35:00.000Z",
        2,
    )
    assert answer.value == 2


def test_question_3_one_row_per_deployment(ingest, ask) -> None:
    deploys, errors = ingest(DEPLOYS), ingest(ERRORS)
    query = {
        "job_ids": [errors],
        "metric": "count",
        "filter": {"error_code": 500},
        "relative_to": {"job_ids": [deploys], "duration": "5m"},
    }
    answer = ask(query, "aggregates")  # every deploy entry has a version_id: anchors complete
    assert [(r.anchor["version_id"], r.count) for r in answer.rows] == [
        ("version-v1", 2),
        ("version-v2", 2),
        ("version-v3", 2),
    ]
    assert answer.value == 5  # 10:33 is after both v2 and v3: counted once


def test_question_3_anchors_without_version_need_the_entries(ingest, ask) -> None:
    deploys = ingest([*DEPLOYS, {"timestamp": "2026-11-22T10:00:00Z", "event_type": "deployment"}])
    errors = ingest(ERRORS)
    query = {
        "job_ids": [errors],
        "metric": "count",
        "filter": {"error_code": 500},
        "relative_to": {
            "job_ids": [deploys],
            "filter": {"event_type": "deployment"},
            "duration": "5m",
        },
    }
    answer = ask(query, "entries")
    assert [r.count for r in answer.rows] == [2, 2, 2, 2]
    assert answer.value == 5


def test_question_3_with_no_anchor(ingest, ask) -> None:
    deploys, errors = ingest(DEPLOYS), ingest(ERRORS)
    query = {
        "job_ids": [errors],
        "metric": "count",
        "filter": {"error_code": 500},
        "relative_to": {"job_ids": [deploys], "filter": {"version_id": "v9"}, "duration": "5m"},
    }
    answer = ask(query, "aggregates")
    assert (answer.rows, answer.value) == ([], 0)


# -- every metric per window and per anchor ------------------------------------------------

TIMED_LOG = [
    request("2026-11-22T10:00:00Z", 100),
    request("2026-11-22T10:04:00Z", 300),
    request("2026-11-22T10:09:59.999Z", 200),
    request("2026-11-22T10:10:00Z", 50),  # on the boundary: the next clock window
    request("2026-11-22T10:15:00Z", 1000, status=500),
    request("2026-11-22T12:19:00+02:00", 70),  # 10:19 UTC
    request("2026-11-22T10:20:30", 400),  # naive: UTC
    request("2026-11-22T10:21:00Z", None),  # no response time
]
TIMED = {"metric": "avg", "field": "response_time_ms", "filter": {**REQ, "http_status": 200}}


def test_average_per_clock_window_ranked_by_value_from_rollups(ingest, ask) -> None:
    job = ingest(TIMED_LOG)
    query = {**TIMED, "job_ids": [job], "window": {"size": "10m"}, "top": 3}
    answer = ask(query, "aggregates")
    assert [(w.start, w.end, w.count, w.value) for w in answer.windows] == [
        ("2026-11-22T10:20:00.000Z", "2026-11-22T10:30:00.000Z", 1, 400),
        ("2026-11-22T10:00:00.000Z", "2026-11-22T10:10:00.000Z", 3, 200),
        ("2026-11-22T10:10:00.000Z", "2026-11-22T10:20:00.000Z", 2, 60),
    ]
    assert (answer.value, answer.n) == (400, 6)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # Windows 10:00 (100, 300, 200), 10:10 (50, 70), 10:20 (400): (value, count), best first.
        ("max", [(400, 1), (300, 3), (70, 2)]),
        ("min", [(400, 1), (100, 3), (50, 2)]),
        ("p50", [(400, 1), (200, 3), (50, 2)]),
        ("sum", [(600, 3), (400, 1), (120, 2)]),
        ("count", [(3, 3), (2, 2), (1, 1)]),
    ],
)
def test_other_metrics_per_clock_window(ingest, ask, metric: str, expected: list) -> None:
    job = ingest(TIMED_LOG)
    query = {**TIMED, "metric": metric, "job_ids": [job], "window": {"size": "10m"}, "top": 3}
    answer = ask(query, "aggregates")
    assert [(w.value, w.count) for w in answer.windows] == expected


def test_count_per_window_with_a_rollup_filter_comes_from_rollups(ingest, ask) -> None:
    job = ingest(TIMED_LOG)
    query = {"job_ids": [job], "metric": "count", "filter": REQ, "window": {"size": "10m"}}
    answer = ask({**query, "top": 2}, "aggregates")
    assert [(w.start, w.count, w.value) for w in answer.windows] == [
        ("2026-11-22T10:00:00.000Z", 3, 3),
        ("2026-11-22T10:10:00.000Z", 3, 3),  # 10:10, 10:15 (status 500) and 10:19
    ]
    assert answer.n == 8


def test_window_shorter_than_a_minute_reads_the_entries(ingest, ask) -> None:
    job = ingest(TIMED_LOG)
    answer = ask({**TIMED, "job_ids": [job], "window": {"size": "30s"}, "top": 2}, "entries")
    assert [(w.start, w.value) for w in answer.windows] == [
        ("2026-11-22T10:20:30.000Z", 400),
        ("2026-11-22T10:04:00.000Z", 300),
    ]


def test_sliding_average_starts_at_each_entry_and_picks_do_not_overlap(ingest, ask) -> None:
    job = ingest(TIMED_LOG)
    query = {**TIMED, "job_ids": [job], "window": {"size": "10m", "mode": "sliding"}, "top": 2}
    answer = ask(query, "entries")
    # Starts: 10:00 → 200; 10:04 → 183.3; 10:09:59.999 → 106.7; 10:10 → 60; 10:19 → 235;
    # 10:20:30 → 400. 10:19's window overlaps the best one, so 10:00's comes second.
    assert [(w.start, w.end, w.count, w.value) for w in answer.windows] == [
        ("2026-11-22T10:20:30.000Z", "2026-11-22T10:30:30.000Z", 1, 400),
        ("2026-11-22T10:00:00.000Z", "2026-11-22T10:10:00.000Z", 3, 200),
    ]
    assert (answer.value, answer.n) == (400, 6)


WHOLE_MINUTE_DEPLOYS = [
    {"timestamp": "2026-11-22T10:00:00Z", "version_id": "version-v1"},
    {"timestamp": "2026-11-22T10:15:00Z", "version_id": "version-v2"},
]
P95_AFTER = {
    "metric": "p95",
    "field": "response_time_ms",
    "filter": {"api_id": "api-123"},
}


def test_p95_after_each_deployment_from_rollups(ingest, ask) -> None:
    deploys, job = ingest(WHOLE_MINUTE_DEPLOYS), ingest(TIMED_LOG)
    query = {**P95_AFTER, "job_ids": [job], "relative_to": {"job_ids": [deploys], "duration": "5m"}}
    answer = ask(query, "aggregates")
    assert [(r.anchor["version_id"], r.count, r.value) for r in answer.rows] == [
        ("version-v1", 2, 300),  # 100 and 300: rank ceil(0.95·2) = 2
        ("version-v2", 2, 1000),  # 1000 (status 500) and 70
    ]
    assert (answer.value, answer.n) == (1000, 4)


def test_anchor_off_the_minute_reads_the_entries(ingest, ask) -> None:
    rows = [*WHOLE_MINUTE_DEPLOYS, {"timestamp": "2026-11-22T10:15:00.500Z", "version_id": "v3"}]
    deploys, job = ingest(rows), ingest(TIMED_LOG)
    relative_to = {"job_ids": [deploys], "duration": "5m"}
    answer = ask({**P95_AFTER, "metric": "avg", "job_ids": [job], "relative_to": relative_to})
    assert answer.source == "entries"
    assert [(r.anchor["version_id"], r.value) for r in answer.rows] == [
        ("version-v1", 200),
        ("version-v2", 535),
        ("v3", 70),  # 10:15:00 is before it
    ]
    assert answer.value == (100 + 300 + 1000 + 70) / 4


def test_metric_after_an_anchor_with_no_values_is_none(ingest, ask) -> None:
    deploys = ingest([{"timestamp": "2026-11-22T11:00:00Z", "version_id": "late"}])
    job = ingest(TIMED_LOG)
    query = {**P95_AFTER, "job_ids": [job], "relative_to": {"job_ids": [deploys], "duration": "5m"}}
    answer = ask(query, "aggregates")
    assert [(r.count, r.value) for r in answer.rows] == [(0, None)]
    assert (answer.value, answer.n) == (None, 0)
