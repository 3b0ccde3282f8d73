"""POST /api/v1/files: a presigned POST for large files, with the job recorded first."""

import base64
import json

import requests

from horizon.jobs import JobStatus, JobStore


def _policy(fields):
    return json.loads(base64.b64decode(fields["policy"]))


def test_presign_returns_fields_and_records_the_job(aws, client):
    response = client.post(
        "/api/v1/files", json={"file_name": "big app.jsonl", "size_bytes": 50_000_000}
    )

    assert response.status_code == 201
    body = response.json()
    job = JobStore().get("local", body["job_id"])
    assert job.status is JobStatus.QUEUED
    assert job.size_bytes == 50_000_000
    assert body["status"] == "queued"
    upload = body["upload"]
    assert upload["method"] == "POST"
    assert upload["expires_in"] == 900
    assert aws.env["UPLOADS_BUCKET"] in upload["url"]
    assert upload["fields"]["key"] == job.object_key == f"uploads/local/{job.job_id}/big_app.jsonl"
    conditions = _policy(upload["fields"])["conditions"]
    assert ["content-length-range", 1, 5 * 1024**3] in conditions
    assert {"key": job.object_key} in conditions


def test_presigned_post_uploads_to_s3(aws, client):
    upload = client.post("/api/v1/files", json={"file_name": "a.jsonl"}).json()["upload"]
    content = b'{"timestamp": "2026-11-22T04:00:00Z"}\n'

    # What a client does with the answer (moto intercepts `requests` in-process).
    response = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("a.jsonl", content)}, timeout=5
    )

    assert response.status_code in (200, 204)
    stored = aws.s3.get_object(Bucket=aws.env["UPLOADS_BUCKET"], Key=upload["fields"]["key"])
    assert stored["Body"].read() == content


def test_presign_refuses_wrong_type_and_oversize(client):
    assert client.post("/api/v1/files", json={"file_name": "a.txt"}).status_code == 415
    wrong_media = {"file_name": "a.jsonl", "content_type": "image/png"}
    assert client.post("/api/v1/files", json=wrong_media).status_code == 415
    too_big = {"file_name": "a.jsonl", "size_bytes": 6 * 1024**3}
    assert client.post("/api/v1/files", json=too_big).status_code == 413
    assert (
        client.post("/api/v1/files", json={"file_name": "a.jsonl", "size_bytes": 0}).status_code
        == 422
    )
    assert client.post("/api/v1/files", json={}).status_code == 422
    assert JobStore().list("local")[0] == []
