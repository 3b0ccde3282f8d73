"""Log ingestion end to end through the local stack, with real HTTP and WebSocket clients:
upload, live progress, entries and errors, redelivery, tenancy, and a crash midway."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest
import websockets

from tests.integration.clients import (
    ends_the_watch,
    get_job,
    jsonl,
    read_all,
    upload,
    wait_for_job,
    watch_job,
)
from tests.integration.conftest import ROOT, start_local_stack

pytestmark = pytest.mark.integration


def make_log(count: int) -> tuple[bytes, int, int, int]:
    """A log of `count` lines: every 7th not JSON, every 11th with a bad http_status, every 13th
    blank; returns (content, valid, invalid, blank) computed independently of the service."""
    lines: list[Any] = []
    valid = invalid = blank = 0
    for n in range(1, count + 1):
        if n % 13 == 0:
            lines.append("")
            blank += 1
        elif n % 7 == 0:
            lines.append("{not json")
            invalid += 1
        elif n % 11 == 0:
            lines.append({"timestamp": "2026-11-22T10:00:00Z", "http_status": "teapot"})
            invalid += 1
        else:
            lines.append(
                {
                    "timestamp": f"2026-11-22T10:{n // 60 % 60:02d}:{n % 60:02d}",
                    "level": "INFO",
                    "message": f"line {n}",
                    "http_status": 200,
                    "response_time_ms": n / 10,
                    "request": {"n": n},
                }
            )
            valid += 1
    return jsonl(lines), valid, invalid, blank


def test_upload_then_read_entries_and_errors(local_stack):
    content, valid, invalid, _ = make_log(120)
    response = upload(local_stack.rest_url, "app.jsonl", content)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    job = wait_for_job(local_stack.rest_url, body["job_id"])
    assert job["status"] == "completed", job
    assert (job["valid"], job["invalid"], job["lines"]) == (valid, invalid, 120)
    assert job["percent"] == 100
    entries = read_all(local_stack.rest_url, body["job_id"], "entries", limit=17)
    assert len(entries) == valid
    assert [e["line"] for e in entries] == sorted(e["line"] for e in entries)
    first = entries[0]
    assert first["message"] == "line 1"
    assert first["timestamp"].startswith("2026-11-22T10:00:01")  # naive means UTC
    errors = read_all(local_stack.rest_url, body["job_id"], "errors", limit=5)
    assert [e["line"] for e in errors] == [
        n for n in range(1, 121) if n % 13 and (n % 7 == 0 or n % 11 == 0)
    ]
    assert all(e["reason"] for e in errors)


def test_bad_uploads_are_refused_with_clear_statuses(local_stack):
    assert upload(local_stack.rest_url, "empty.jsonl", b"").status_code == 422
    wrong = httpx.post(
        f"{local_stack.rest_url}/api/v1/files/upload",
        files={"file": ("picture.png", b"\x89PNG", "image/png")},
        timeout=10,
    )
    assert wrong.status_code == 415
    assert "detail" in wrong.json()
    too_big = upload(local_stack.rest_url, "big.jsonl", b"{}\n" * (1_500_000))
    assert too_big.status_code == 413
    assert get_job(local_stack.rest_url, "no-such-job").status_code == 404


def test_docs_and_openapi_are_served(local_stack):
    assert httpx.get(local_stack.docs_url, timeout=10).status_code == 200
    spec = httpx.get(f"{local_stack.rest_url}/openapi.json", timeout=10).json()
    assert "/api/v1/files/upload" in spec["paths"]
    assert httpx.get(f"{local_stack.rest_url}/health", timeout=10).status_code == 200


def _presigned_job(rest_url: str, name: str) -> dict[str, Any]:
    response = httpx.post(f"{rest_url}/api/v1/files", json={"file_name": name}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def _send_presigned(upload_form: dict[str, Any], content: bytes) -> None:
    response = httpx.post(
        upload_form["url"],
        data=upload_form["fields"],
        files={"file": ("log.jsonl", content)},
        timeout=30,
    )
    assert response.status_code in (200, 201, 204), response.text


def test_subscriber_sees_every_tenth_and_the_end():
    # A small per-line delay stretches the ingest over about a second so progress can be seen.
    with start_local_stack(
        INGEST_LINE_DELAY_MAX_S="0.004", INGEST_CHECKPOINT_LINES="1000"
    ) as stack:
        created = _presigned_job(stack.rest_url, "watched.jsonl")
        job_id = created["job_id"]
        content, valid, invalid, _ = make_log(400)
        # Subscribe before the file exists, then upload while watching.
        sender = threading.Timer(1.0, _send_presigned, args=(created["upload"], content))
        sender.start()
        try:
            messages = watch_job(f"{stack.ws_url}/jobs/{job_id}", timeout_s=60)
        finally:
            sender.join()
    progress = [m for m in messages if m["type"] == "progress"]
    assert progress[0]["status"] == "queued"  # the current state comes first
    final = progress[-1]
    assert final["status"] == "completed"
    assert (final["valid"], final["invalid"], final["lines"]) == (valid, invalid, 400)
    seqs = [m["seq"] for m in progress]
    assert seqs == sorted(set(seqs)), seqs
    percents = [m["percent"] for m in progress]
    assert percents == sorted(percents)
    # at least one message in every tenth of the file, and the end
    for tenth in range(1, 10):
        assert any(tenth * 10 <= p < (tenth + 1) * 10 for p in percents), percents
    assert percents[-1] == 100


def _has_pong(messages: list[dict[str, Any]]) -> bool:
    return any(message["type"] == "pong" for message in messages)


def test_subscribe_message_and_ping_on_the_plain_endpoint(local_stack):
    response = upload(local_stack.rest_url, "small.jsonl", make_log(10)[0])
    job_id = response.json()["job_id"]
    wait_for_job(local_stack.rest_url, job_id)
    # Each message is its own route invocation (as in API Gateway): the replies may cross.
    messages = watch_job(
        local_stack.ws_url,
        send=[{"action": "ping"}, {"action": "subscribe", "job_id": job_id}],
        timeout_s=20,
        done=lambda got: _has_pong(got) and any(map(ends_the_watch, got)),
    )
    assert _has_pong(messages)
    progress = [m for m in messages if m["type"] == "progress"]
    assert progress[-1]["status"] == "completed"  # an event that already happened: not waited for


def _queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_redelivered_notifications_never_double_count(local_stack):
    content, valid, invalid, _ = make_log(150)
    job_id = upload(local_stack.rest_url, "twice.jsonl", content).json()["job_id"]
    before = wait_for_job(local_stack.rest_url, job_id)
    s3 = local_stack.client("s3")
    sqs = local_stack.client("sqs")
    bucket = local_stack.env["UPLOADS_BUCKET"]
    [key] = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="uploads/")["Contents"]
        if f"/{job_id}/" in o["Key"]
    ]
    notification = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key.replace(" ", "+"), "size": len(content)},
                },
            }
        ]
    }
    queue_url = local_stack.env["INGEST_QUEUE_URL"]
    for _ in range(3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(notification))
    deadline = time.monotonic() + 30
    while _queue_depth(sqs, queue_url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _queue_depth(sqs, queue_url) == 0
    after = get_job(local_stack.rest_url, job_id).json()
    assert (after["valid"], after["invalid"]) == (valid, invalid)
    assert after["seq"] == before["seq"]
    assert len(read_all(local_stack.rest_url, job_id, "entries", limit=1000)) == valid


def test_tenants_see_only_their_own_jobs():
    with start_local_stack(API_TOKENS="token-a=tenant-a,token-b=tenant-b") as stack:
        assert upload(stack.rest_url, "a.jsonl", make_log(5)[0]).status_code == 401
        response = upload(stack.rest_url, "a.jsonl", make_log(5)[0], token="token-a")
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        wait_for_job(stack.rest_url, job_id, token="token-a")
        assert get_job(stack.rest_url, job_id, token="token-b").status_code == 404
        listing = httpx.get(
            f"{stack.rest_url}/api/v1/jobs", headers={"Authorization": "Bearer token-b"}, timeout=10
        )
        assert listing.json()["items"] == []
        # A WebSocket without a token is refused at the handshake; another tenant learns nothing.
        with pytest.raises(websockets.exceptions.InvalidStatus):
            watch_job(f"{stack.ws_url}/jobs/{job_id}", timeout_s=5)
        stranger = watch_job(f"{stack.ws_url}/jobs/{job_id}?token=token-b", timeout_s=20)
        assert stranger[-1]["type"] == "error"
        assert stranger[-1]["code"] == "not_found"
        owner = watch_job(f"{stack.ws_url}/jobs/{job_id}?token=token-a", timeout_s=20)
        assert owner[-1]["status"] == "completed"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_ingest_killed_midway_resumes_to_exact_counts():
    """SIGKILL the whole local stack in the middle of an ingest; a new stack on the same AWS
    plane picks the message up again and finishes from the last checkpoint."""
    port = _free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        common = {
            "AWS_ENDPOINT_URL": endpoint,
            "LOCAL_RESOURCE_PREFIX": "killed",
            "INGEST_CHECKPOINT_LINES": "50",
            "INGEST_LEASE_S": "2",
            "LOCAL_VISIBILITY_TIMEOUT_S": "3",
        }
        content, valid, invalid, _ = make_log(800)
        with start_local_stack(**common, INGEST_LINE_DELAY_MAX_S="0.01") as first:
            job_id = upload(first.rest_url, "crash.jsonl", content).json()["job_id"]
            midway = wait_for_job(
                first.rest_url, job_id, until=lambda job: job["lines"] >= 150, timeout_s=60
            )
            assert midway["status"] == "processing"
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
        with start_local_stack(**common) as second:
            job = wait_for_job(second.rest_url, job_id, timeout_s=60)
            entries = read_all(second.rest_url, job_id, "entries", limit=1000)
            errors = read_all(second.rest_url, job_id, "errors", limit=1000)
    finally:
        moto.terminate()
        moto.wait(10)
    assert job["status"] == "completed", job
    assert (job["valid"], job["invalid"], job["lines"]) == (valid, invalid, 800)
    assert job["started_at"] <= midway["started_at"] or job["started_at"] == midway["started_at"]
    lines = [entry["line"] for entry in entries]
    assert len(lines) == len(set(lines)) == valid
    assert len(errors) == invalid
