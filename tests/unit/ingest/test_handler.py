"""The ingest Lambda handler on real SQS event shapes: partial batch responses."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest

from functions.ingest import handler as ingest_handler
from horizon.ingest import IngestService
from horizon.jobs import JobStatus, JobStore
from horizon.settings import get_settings
from tests.conftest import FakeLambdaContext
from tests.events import load_event
from tests.unit.ingest.conftest import OWNER, RecordingPublisher, line

DATA = b"\n".join([line(1), b"oops", b"", line(4)])


@pytest.fixture
def publisher(monkeypatch) -> RecordingPublisher:
    recording = RecordingPublisher()
    monkeypatch.setattr(ingest_handler, "get_service", lambda: IngestService(publisher=recording))
    return recording


def s3_event(key: str, message_id: str = "m-1", receive_count: str = "1") -> dict:
    """The sample SQS event, its S3 notification naming `key` (encoded as moto does)."""
    event = load_event("ingest_sqs_s3_put")
    record = event["Records"][0]
    body = json.loads(record["body"])
    body["Records"][0]["s3"]["object"]["key"] = quote_plus(key, safe="")
    record["body"] = json.dumps(body)
    record["messageId"] = message_id
    record["attributes"]["ApproximateReceiveCount"] = receive_count
    return event


def test_s3_put_event_ingests_the_file(upload, publisher) -> None:
    up = upload(DATA, file_name="my logs+v2.jsonl")
    result = ingest_handler.handler(s3_event(up.key), FakeLambdaContext(timeout_s=300))
    assert result == {"batchItemFailures": []}
    job = up.current()
    assert job.status is JobStatus.COMPLETED
    assert (job.counts.valid, job.counts.invalid, job.counts.blank) == (2, 1, 1)
    assert publisher.jobs[-1].status is JobStatus.COMPLETED


def test_the_notification_moto_actually_sent(aws, upload, publisher) -> None:
    up = upload(DATA, file_name="with space.jsonl")
    queue_url = get_settings().ingest_queue_url
    messages = aws.sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    event = load_event("ingest_sqs_s3_put")
    template = event["Records"][0]
    event["Records"] = [
        {
            **template,
            "messageId": m["MessageId"],
            "body": m["Body"],
            "attributes": {**template["attributes"], **m["Attributes"]},
        }
        for m in messages
    ]
    assert ingest_handler.handler(event, FakeLambdaContext(timeout_s=300)) == {
        "batchItemFailures": []
    }
    assert up.current().status is JobStatus.COMPLETED


def test_test_event_and_malformed_bodies_are_acknowledged(publisher) -> None:
    event = load_event("ingest_sqs_test_event")
    junk = dict(event["Records"][0], messageId="junk", body="{not json")
    event["Records"].append(junk)
    assert ingest_handler.handler(event, FakeLambdaContext(timeout_s=300)) == {
        "batchItemFailures": []
    }
    assert publisher.jobs == []


def test_a_busy_job_is_reported_for_retry_without_holding_up_others(upload, publisher) -> None:
    busy = upload(DATA)
    free = upload(DATA)
    JobStore().claim(OWNER, busy.job.job_id, "someone-else", 60)
    event = s3_event(busy.key, "busy-1")
    event["Records"] += s3_event(free.key, "free-1")["Records"]
    result = ingest_handler.handler(event, FakeLambdaContext(timeout_s=300))
    assert result == {"batchItemFailures": [{"itemIdentifier": "busy-1"}]}
    assert free.current().status is JobStatus.COMPLETED
    assert busy.current().status is JobStatus.PROCESSING


def test_last_delivery_of_a_failing_job_marks_it_failed(
    aws, upload, publisher, monkeypatch
) -> None:
    up = upload(DATA)

    def broken_get_object(**_: object) -> None:
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="http://s3")

    service = IngestService(publisher=publisher)
    monkeypatch.setattr(service.s3, "get_object", broken_get_object)
    monkeypatch.setattr(ingest_handler, "get_service", lambda: service)
    first = ingest_handler.handler(s3_event(up.key, "a"), FakeLambdaContext(timeout_s=300))
    assert first == {"batchItemFailures": [{"itemIdentifier": "a"}]}
    assert up.current().status is JobStatus.PROCESSING
    last = str(get_settings().ingest_max_receive_count)
    assert ingest_handler.handler(
        s3_event(up.key, "a", last), FakeLambdaContext(timeout_s=300)
    ) == {"batchItemFailures": []}
    job = up.current()
    assert job.status is JobStatus.FAILED
    assert job.error is not None and "could not read the uploaded object" in job.error


def test_continuation_event_resumes_the_job(upload, publisher) -> None:
    up = upload(DATA)
    event = load_event("ingest_sqs_continue")
    event["Records"][0]["body"] = json.dumps(
        {"type": "ingest.continue", "owner": OWNER, "job_id": up.job.job_id}
    )
    assert ingest_handler.handler(event, FakeLambdaContext(timeout_s=300)) == {
        "batchItemFailures": []
    }
    assert up.current().status is JobStatus.COMPLETED


def test_the_real_service_wiring_builds_lazily(upload) -> None:
    ingest_handler.get_service.cache_clear()
    try:
        up = upload(DATA)
        assert ingest_handler.handler(s3_event(up.key), FakeLambdaContext(timeout_s=300)) == {
            "batchItemFailures": []
        }
        assert up.current().status is JobStatus.COMPLETED
    finally:
        ingest_handler.get_service.cache_clear()
