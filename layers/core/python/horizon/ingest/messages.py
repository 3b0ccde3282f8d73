"""The ingest queue's message bodies: S3 notifications, S3's test event, continuations.

S3 sends `{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
"s3": {"bucket": {"name"}, "object": {"key", "size"}}}]}` with the key URL-encoded (spaces as
"+"; moto encodes "/" too), and once `{"Event": "s3:TestEvent"}` when notifications are set up.
The service sends itself `{"type": "ingest.continue", "owner", "job_id"}` to go on after a
checkpoint. See https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote_plus

import orjson

from horizon.ingest.exceptions import MalformedMessageError
from horizon.ingest.types import IngestRequest
from horizon.wiring import UPLOADS_PREFIX

logger = logging.getLogger(__name__)

CONTINUE_TYPE = "ingest.continue"
TEST_EVENT = "s3:TestEvent"


def parse_body(body: str) -> list[IngestRequest]:
    """Return the jobs an ingest-queue message asks for.

    Test events, events of other kinds and keys outside `uploads/{owner}/{job_id}/{file}` give
    no request (logged); the caller acknowledges such messages.

    Raises:
        MalformedMessageError: the body is not a message this queue carries.
    """
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedMessageError("message body is not JSON") from error
    if not isinstance(message, dict):
        raise MalformedMessageError("message body is not a JSON object")
    if message.get("Event") == TEST_EVENT:
        logger.info("skipping S3 test event", extra={"bucket": message.get("Bucket")})
        return []
    if message.get("type") == CONTINUE_TYPE:
        return [_continuation(message)]
    records = message.get("Records")
    if isinstance(records, list):
        return [request for record in records if (request := _s3_record(record))]
    raise MalformedMessageError("message is neither an S3 notification nor a continuation")


def continuation_body(owner: str, job_id: str) -> str:
    """Return the body of the message that resumes `job_id` from its last checkpoint."""
    return orjson.dumps({"type": CONTINUE_TYPE, "owner": owner, "job_id": job_id}).decode()


def parse_object_key(key: str) -> tuple[str, str] | None:
    """Return (owner, job_id) of an upload key `uploads/{owner}/{job_id}/{file_name}`, or None."""
    if not key.startswith(UPLOADS_PREFIX):
        return None
    parts = key[len(UPLOADS_PREFIX) :].split("/", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1]


def _continuation(message: dict[str, Any]) -> IngestRequest:
    owner, job_id = message.get("owner"), message.get("job_id")
    if not isinstance(owner, str) or not owner or not isinstance(job_id, str) or not job_id:
        raise MalformedMessageError("continuation message lacks owner or job_id")
    return IngestRequest(owner=owner, job_id=job_id)


def _s3_record(record: Any) -> IngestRequest | None:
    if not isinstance(record, dict):
        raise MalformedMessageError("S3 notification record is not an object")
    event_name = str(record.get("eventName", ""))
    if record.get("eventSource") != "aws:s3" or not event_name.startswith("ObjectCreated"):
        logger.info("skipping S3 event %s", event_name or "without a name")
        return None
    try:
        encoded_key = record["s3"]["object"]["key"]
        size = record["s3"]["object"].get("size")
    except (KeyError, TypeError, AttributeError) as error:
        raise MalformedMessageError("S3 notification record lacks s3.object.key") from error
    if not isinstance(encoded_key, str):
        raise MalformedMessageError("S3 notification key is not a string")
    key = unquote_plus(encoded_key)
    parsed = parse_object_key(key)
    if parsed is None:
        logger.warning(
            "skipping object outside %s{owner}/{job_id}/", UPLOADS_PREFIX, extra={"key": key}
        )
        return None
    owner, job_id = parsed
    return IngestRequest(
        owner=owner,
        job_id=job_id,
        object_key=key,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )
