"""`GET /metrics`: platform-wide figures read from the stores, for admins."""

from __future__ import annotations

import pytest

from horizon.api import platform_metrics
from horizon.executions.settings import get_execution_settings
from horizon.jobs import JobStatus
from horizon.settings import get_settings, reset_settings
from tests.unit.api.conftest import make_job


@pytest.fixture(autouse=True)
def fresh_figures():
    platform_metrics.reset_cache()
    yield
    platform_metrics.reset_cache()


def test_jobs_by_status_and_queue_depths_from_the_stores(client, aws):
    make_job(owner="tenant-a", status=JobStatus.COMPLETED)
    make_job(owner="tenant-b", status=JobStatus.COMPLETED)
    make_job(owner="tenant-b", status=JobStatus.FAILED)
    # The execute queue, not ingest: provisioning leaves S3's test event in the ingest queue.
    aws.sqs.send_message(QueueUrl=get_execution_settings().execute_queue_url, MessageBody="{}")
    text = client.get("/metrics").text
    assert 'horizon_jobs{status="completed"} 2' in text
    assert 'horizon_jobs{status="failed"} 1' in text
    assert 'horizon_queue_messages{queue="execute",state="waiting"} 1' in text
    assert 'horizon_queue_messages{queue="execute_dlq",state="waiting"} 0' in text
    assert 'horizon_queue_messages{queue="notify",state="in_flight"} 0' in text
    assert "horizon_figure_errors 0" in text
    assert "# TYPE horizon_jobs gauge" in text


def test_a_figure_past_the_cap_says_it_is_truncated(client, aws, monkeypatch):
    for _ in range(3):
        make_job(status=JobStatus.QUEUED)
    monkeypatch.setattr(platform_metrics, "MAX_ITEMS_PER_FIGURE", 1)
    dynamodb = platform_metrics.aws.client("dynamodb")
    real_scan = dynamodb.scan
    # Pages of one item, so that the cap stops the count after the first.
    monkeypatch.setattr(dynamodb, "scan", lambda **request: real_scan(**request, Limit=1))
    counts, truncated = platform_metrics.count_by_status(get_settings().jobs_table)
    assert truncated
    assert sum(counts.values()) == 1
    assert 'horizon_figure_truncated{figure="horizon_jobs"} 1' in client.get("/metrics").text


def test_metrics_need_an_admin_key_once_credentials_exist(client, aws, monkeypatch):
    monkeypatch.setenv("HORIZON_ADMIN_KEY", "admin-key-for-metrics-123")
    reset_settings()
    assert client.get("/metrics").status_code == 401
    member = client.post(
        "/api/v1/keys",
        headers={"X-API-Key": "admin-key-for-metrics-123"},
        json={"tenant": "t", "tier": "pro"},
    ).json()["key"]
    assert client.get("/metrics", headers={"X-API-Key": member}).status_code == 403
    answer = client.get("/metrics", headers={"X-API-Key": "admin-key-for-metrics-123"})
    assert answer.status_code == 200
    assert "horizon_jobs" in answer.text
