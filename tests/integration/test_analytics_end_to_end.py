"""Analytics through the local stack: upload two logs over HTTP, let the SQS-driven ingest
build their aggregates, then ask the three questions at POST /api/v1/query."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.clients import jsonl, upload, wait_for_job

pytestmark = pytest.mark.integration

REQUESTS = [
    {"timestamp": "2026-11-22T10:00:00Z", "api_id": "api-123", "endpoint": "/users/{id}",
     "http_status": 200, "response_time_ms": ms}
    for ms in (90, 120, 180, 300)
] + [
    {"timestamp": "2026-11-22T10:04:00Z", "event_type": "login_failure"},
    {"timestamp": "2026-11-22T10:09:59.999Z", "event_type": "login_failure"},
    {"timestamp": "2026-11-22T10:10:00Z", "event_type": "login_failure"},
    {"timestamp": "2026-11-22T10:31:00Z", "error_code": 500},
    {"timestamp": "2026-11-22T10:35:00Z", "error_code": 500},  # at `to`: excluded
]  # fmt: skip
DEPLOYS = [
    {"timestamp": "2026-11-22T10:00:00Z", "version_id": "version-v1"},
    {"timestamp": "2026-11-22T10:30:00Z", "version_id": "version-v2"},
]


def _ingest(rest_url: str, name: str, rows: list[dict]) -> str:
    response = upload(rest_url, name, jsonl(rows))
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert wait_for_job(rest_url, job_id)["status"] == "completed"
    return job_id


def _query(rest_url: str, body: dict) -> dict:
    response = httpx.post(f"{rest_url}/api/v1/query", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_three_questions_through_the_local_stack(local_stack):
    url = local_stack.rest_url
    app = _ingest(url, "app.jsonl", REQUESTS)
    deploys = _ingest(url, "deployments.jsonl", DEPLOYS)

    answer = _query(
        url,
        {
            "job_ids": [app],
            "metric": "avg",
            "field": "response_time_ms",
            "filter": {
                "api_id": "api-123",
                "endpoint": "/users/{id}",
                "http_status": 200,
                "response_time_ms": {"gt": 100},
            },
        },
    )
    assert (answer["value"], answer["n"], answer["source"]) == (200.0, 3, "aggregates")

    answer = _query(
        url,
        {
            "job_ids": [app],
            "metric": "count",
            "filter": {"event_type": "login_failure"},
            "window": {"size": "10m", "mode": "tumbling"},
            "top": 1,
        },
    )
    assert answer["windows"] == [
        {
            "start": "2026-11-22T10:00:00.000Z",
            "end": "2026-11-22T10:10:00.000Z",
            "count": 2,
            "value": 2,
        }
    ]

    # Any metric per window, and after each deployment, from the rollups.
    timed = {"job_ids": [app], "field": "response_time_ms", "filter": {"api_id": "api-123"}}
    answer = _query(url, {**timed, "metric": "avg", "window": {"size": "10m"}})
    assert [(w["start"], w["count"], w["value"]) for w in answer["windows"]] == [
        ("2026-11-22T10:00:00.000Z", 4, 172.5)
    ]
    assert answer["source"] == "aggregates"
    relative_to = {"job_ids": [deploys], "duration": "5m"}
    answer = _query(url, {**timed, "metric": "p95", "relative_to": relative_to})
    assert [(r["anchor"]["version_id"], r["count"], r["value"]) for r in answer["rows"]] == [
        ("version-v1", 4, 300),
        ("version-v2", 0, None),
    ]
    assert (answer["value"], answer["n"], answer["source"]) == (300, 4, "aggregates")

    answer = _query(
        url,
        {
            "job_ids": [app],
            "metric": "count",
            "filter": {"error_code": 500},
            "relative_to": {
                "job_ids": [deploys],
                "filter": {"version_id": "version-v2"},
                "duration": "5m",
            },
        },
    )
    assert [row["count"] for row in answer["rows"]] == [1]
    assert answer["rows"][0]["anchor"]["version_id"] == "version-v2"
    assert answer["source"] == "aggregates"

    bad = httpx.post(f"{url}/api/v1/jobs/{app}/query", json={"metric": "mode"}, timeout=10)
    assert bad.status_code == 422
    assert "unknown metric" in str(bad.json()["detail"])
