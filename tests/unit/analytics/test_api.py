"""POST /api/v1/query and /api/v1/jobs/{id}/query: answers, 422 reasons, owner scoping."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from functions.api.handler import handler
from horizon.api import create_app
from horizon.jobs import JobStore
from horizon.settings import reset_settings
from tests.events import load_event
from tests.unit.analytics.conftest import create_job, ingest_service, jsonl, plenty

ROWS = [
    {"timestamp": "2026-11-22T10:00:00Z", "event_type": "login_failure", "response_time_ms": 5},
    {"timestamp": "2026-11-22T10:00:01Z", "event_type": "login_failure", "response_time_ms": 7},
]


@pytest.fixture(autouse=True)
def event_loop_for_mangum():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def tenants(aws, monkeypatch):
    monkeypatch.setenv("API_TOKENS", "token-a=tenant-a,token-b=tenant-b")
    reset_settings()
    return {"a": {"Authorization": "Bearer token-a"}, "b": {"Authorization": "Bearer token-b"}}


@pytest.fixture
def client(aws, tenants):
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def job_a(aws, tenants) -> str:
    job = create_job(aws, jsonl(ROWS), owner="tenant-a")
    ingest_service().run("tenant-a", job.job_id, plenty)
    return job.job_id


def test_query_through_both_routes(client, tenants, job_a) -> None:
    body = {"metric": "avg", "field": "response_time_ms"}
    response = client.post("/api/v1/query", json={**body, "job_ids": [job_a]}, headers=tenants["a"])
    assert response.status_code == 200
    assert response.json() == {
        "metric": "avg",
        "field": "response_time_ms",
        "value": 6.0,
        "n": 2,
        "window": None,
        "windows": None,
        "rows": None,
        "source": "aggregates",
        "exact": True,
    }
    response = client.post(f"/api/v1/jobs/{job_a}/query", json=body, headers=tenants["a"])
    assert response.status_code == 200
    assert response.json()["value"] == 6.0


def test_another_owners_job_is_invisible(client, tenants, job_a) -> None:
    body = {"metric": "count", "job_ids": [job_a]}
    response = client.post("/api/v1/query", json=body, headers=tenants["b"])
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"job {job_a} not found",
        "code": "not_found",
        "request_id": response.headers["X-Request-Id"],
    }
    response = client.post(
        f"/api/v1/jobs/{job_a}/query", json={"metric": "count"}, headers=tenants["b"]
    )
    assert response.status_code == 404
    # As an anchor job too.
    body = {
        "metric": "count",
        "job_ids": [job_a],
        "relative_to": {"job_ids": ["someone-elses"], "duration": "5m"},
    }
    assert client.post("/api/v1/query", json=body, headers=tenants["a"]).status_code == 404


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"metric": "median", "field": "response_time_ms"}, "unknown metric 'median'"),
        ({"metric": "avg", "field": "endpoint"}, "field 'endpoint' is not numeric"),
        ({"metric": "avg"}, "metric 'avg' needs a numeric 'field'"),
        ({"metric": "count", "window": {"size": "0m"}}, "window size must be a positive"),
        ({"metric": "count", "window": {"size": "-5m"}}, "window size must be a positive"),
        ({"metric": "count", "window": {"size": "ten"}}, "window size must be a positive"),
        ({"metric": "count", "window": {"size": "10m", "mode": "hopping"}}, "tumbling"),
        ({"metric": "count", "filter": {"http_status": {"between": 1}}}, "unknown operator"),
        ({"metric": "count", "filter": {"timestamp": {"from": "yesterday"}}}, "ISO 8601"),
        ({"metric": "count", "filter": {"timestamp": {"from": "2026-11-22"}}}, "ISO 8601"),
        ({"metric": "count", "filter": {"http_status": {"in": []}}}, "non-empty list"),
        ({"metric": "count", "filter": {"level": {"x": 1}}}, "unknown operator 'x'"),
        (
            {"metric": "p95", "field": "level", "window": {"size": "1m"}},
            "field 'level' is not numeric",
        ),
        (
            {"metric": "avg", "field": "timestamp", "relative_to": {"duration": "5m"}},
            "field 'timestamp' is not numeric",
        ),
        ({"metric": "count", "top": 3}, "'top' needs a 'window'"),
        ({"metric": "count", "relative_to": {"duration": "0s"}}, "relative_to duration"),
        ({"metric": "count", "bogus": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_queries_get_422_with_a_reason(client, tenants, job_a, body, reason) -> None:
    response = client.post(f"/api/v1/jobs/{job_a}/query", json=body, headers=tenants["a"])
    assert response.status_code == 422
    assert reason in str(response.json()["detail"])


def test_job_ids_are_required_and_must_agree_with_the_path(client, tenants, job_a) -> None:
    response = client.post("/api/v1/query", json={"metric": "count"}, headers=tenants["a"])
    assert response.status_code == 422
    assert "job_ids" in response.json()["detail"]
    response = client.post(
        f"/api/v1/jobs/{job_a}/query",
        json={"metric": "count", "job_ids": ["other"]},
        headers=tenants["a"],
    )
    assert response.status_code == 422


def test_query_through_a_rest_event(aws, lambda_context) -> None:
    event = load_event("analytics_api_query")
    job_id = event["path"].split("/")[4]
    rows = [
        {"timestamp": "2026-11-22T10:00:00Z", "api_id": "api-123", "endpoint": "/users/{id}",
         "http_status": 200, "response_time_ms": ms}
        for ms in (50, 150, 250)
    ]  # fmt: skip
    data = jsonl(rows)
    owner = "local"
    job = create_job(aws, data, owner=owner)
    # The sample event names a fixed job id: store a job under it, over the same upload.
    JobStore().create(job.model_copy(update={"job_id": job_id}))
    ingest_service().run(owner, job_id, plenty)

    response = handler(event, lambda_context)

    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    assert (body["value"], body["n"], body["source"]) == (200.0, 2, "aggregates")
