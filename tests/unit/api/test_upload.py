"""POST /api/v1/files/upload: the job first, then the object; every refusal with its status."""

import base64
import json
from urllib.parse import unquote_plus

import pytest

from functions.api.handler import handler
from horizon.jobs import JobStatus, JobStore
from horizon.settings import reset_settings
from tests.events import load_event

LINES = b'{"timestamp": "2026-11-22T04:00:00Z", "message": "hi"}\n{"timestamp": "2026-11-22T04:00:01Z"}\n'


def _upload(client, name="app.jsonl", body=LINES, content_type="application/x-ndjson", **kw):
    return client.post("/api/v1/files/upload", files={"file": (name, body, content_type)}, **kw)


def _ingest_messages(aws):
    url = aws.provisioned.queue_urls["ingest"]
    response = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(message["Body"]) for message in response.get("Messages", [])]


def test_upload_creates_job_and_object_and_starts_ingest(aws, client):
    response = _upload(client)

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["file_name"] == "app.jsonl"
    assert body["size_bytes"] == len(LINES)
    assert body["links"]["self"] == f"/api/v1/jobs/{body['job_id']}"
    job = JobStore().get("local", body["job_id"])
    assert job.status is JobStatus.QUEUED
    assert job.object_key == f"uploads/local/{body['job_id']}/app.jsonl"
    stored = aws.s3.get_object(Bucket=aws.env["UPLOADS_BUCKET"], Key=job.object_key)
    assert stored["Body"].read() == LINES
    # The bucket's notification is what starts the ingest.
    # S3 notifications URL-encode keys.
    keys = [
        unquote_plus(record["s3"]["object"]["key"])
        for message in _ingest_messages(aws)
        for record in message.get("Records", [])
    ]
    assert job.object_key in keys


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.ndjson", "application/x-ndjson"),
        ("app.jsonl", "application/octet-stream"),
        ("app.JSONL", "text/plain; charset=utf-8"),
        ("app.jsonl", "application/json"),
    ],
)
def test_accepted_names_and_types(client, name, content_type):
    assert _upload(client, name=name, content_type=content_type).status_code == 202


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.xml", "application/xml"), ("app.json", "application/json"), ("app.jsonl", "image/png")],
)
def test_wrong_type_is_415_and_creates_no_job(client, name, content_type):
    response = _upload(client, name=name, content_type=content_type)

    assert response.status_code == 415
    assert "jsonl" in response.json()["detail"] or "content type" in response.json()["detail"]
    assert JobStore().list("local")[0] == []


def test_too_large_is_413_pointing_to_presigned_upload(aws, client, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "10")
    reset_settings()

    response = _upload(client)

    assert response.status_code == 413
    assert "POST /api/v1/files" in response.json()["detail"]
    assert JobStore().list("local")[0] == []


def test_exactly_the_limit_is_accepted(aws, client, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", str(len(LINES)))
    reset_settings()

    assert _upload(client).status_code == 202


def test_empty_file_is_422(client):
    response = _upload(client, body=b"")

    assert response.status_code == 422
    assert response.json()["detail"] == "the file is empty"


def test_missing_file_field_is_422(client):
    response = client.post("/api/v1/files/upload", files={"other": ("app.jsonl", LINES)})

    assert response.status_code == 422


def test_file_name_is_sanitized(client):
    response = _upload(client, name="../../etc/pass wd\u202e.jsonl")

    assert response.status_code == 202
    job = JobStore().get("local", response.json()["job_id"])
    assert job.file_name == "pass_wd.jsonl"
    assert job.object_key.endswith(f"/{job.job_id}/pass_wd.jsonl")


def test_s3_failure_fails_the_job_and_answers_503(aws, client, monkeypatch):
    monkeypatch.setenv("UPLOADS_BUCKET", "no-such-bucket-for-this-test")
    reset_settings()

    response = _upload(client)

    assert response.status_code == 503
    assert "Traceback" not in response.text
    jobs, _ = JobStore().list("local")
    assert [job.status for job in jobs] == [JobStatus.FAILED]  # no orphan queued job


def test_multipart_rest_event_through_mangum(aws, lambda_context):
    event = load_event("api_upload_multipart")

    response = handler(event, lambda_context)

    assert response["statusCode"] == 202
    body = json.loads(response["body"])
    job = JobStore().get("local", body["job_id"])
    expected = base64.b64decode(event["body"])
    assert job.file_name == "app.jsonl"
    stored = aws.s3.get_object(Bucket=aws.env["UPLOADS_BUCKET"], Key=job.object_key)
    assert stored["Body"].read() in expected  # the part's content, without the envelope
    assert stored["ContentLength"] == job.size_bytes
