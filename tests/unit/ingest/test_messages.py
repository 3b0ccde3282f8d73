"""Ingest-queue message bodies: S3 notifications, test events, continuations, junk."""

from __future__ import annotations

import json

import pytest

from horizon.ingest import (
    IngestRequest,
    MalformedMessageError,
    continuation_body,
    parse_body,
    parse_object_key,
)
from tests.events import load_event


def s3_body(key: str, event: str = "ObjectCreated:Put", size: int = 10) -> str:
    body = json.loads(load_event("ingest_sqs_s3_put")["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = key
    body["Records"][0]["s3"]["object"]["size"] = size
    body["Records"][0]["eventName"] = event
    return json.dumps(body)


def test_s3_put_from_the_sample_event() -> None:
    body = load_event("ingest_sqs_s3_put")["Records"][0]["body"]
    assert parse_body(body) == [
        IngestRequest(
            owner="local",
            job_id="job-123",
            object_key="uploads/local/job-123/access logs 2026.jsonl",
            size=1024,
        )
    ]


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("uploads%2Facme%2Fj1%2Fmy+file.jsonl", "uploads/acme/j1/my file.jsonl"),  # moto style
        ("uploads/acme/j1/a%2Bb.jsonl", "uploads/acme/j1/a+b.jsonl"),  # a real plus
        ("uploads/acme/j1/d%C3%A9j%C3%A0.jsonl", "uploads/acme/j1/déjà.jsonl"),
        ("uploads/acme/j1/sub/dir.jsonl", "uploads/acme/j1/sub/dir.jsonl"),
    ],
)
def test_keys_are_url_decoded(encoded: str, key: str) -> None:
    (request,) = parse_body(s3_body(encoded))
    assert (request.owner, request.job_id, request.object_key) == ("acme", "j1", key)


def test_test_event_is_skipped() -> None:
    assert parse_body(load_event("ingest_sqs_test_event")["Records"][0]["body"]) == []


def test_continuation_round_trip() -> None:
    assert parse_body(continuation_body("acme", "j9")) == [IngestRequest("acme", "j9")]
    sample = load_event("ingest_sqs_continue")["Records"][0]["body"]
    assert parse_body(sample) == [IngestRequest("local", "job-123")]


@pytest.mark.parametrize(
    "key", ["other/acme/j1/f.jsonl", "uploads/acme/f.jsonl", "uploads//j1/f.jsonl", "uploads/a/b/"]
)
def test_keys_of_another_shape_are_skipped(key: str) -> None:
    assert parse_body(s3_body(key)) == []
    assert parse_object_key(key) is None


def test_other_s3_events_are_skipped() -> None:
    assert parse_body(s3_body("uploads/acme/j1/f.jsonl", event="ObjectRemoved:Delete")) == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1]",
        '{"hello": "world"}',
        '{"type": "ingest.continue", "owner": "acme"}',
        '{"type": "ingest.continue", "owner": 1, "job_id": "x"}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}',
        '{"Records": ["x"]}',
    ],
)
def test_malformed_bodies_raise(body: str) -> None:
    with pytest.raises(MalformedMessageError):
        parse_body(body)
