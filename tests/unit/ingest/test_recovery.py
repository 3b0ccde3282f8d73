"""Crashes, time budgets, throttling and retries: every path converges on exact counts."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from horizon.entries import EntryStore
from horizon.errors import DependencyError
from horizon.ingest import (
    IngestOutcome,
    IngestRequest,
    IngestService,
    JobBusyError,
    RetryableIngestError,
)
from horizon.ingest import service as service_module
from horizon.jobs import JobStatus, JobStore
from horizon.settings import get_settings
from tests.unit.ingest.conftest import OWNER, RecordingPublisher, line, plenty

# 120 lines: every 5th invalid, every 11th blank.
DATA = b"\n".join(
    b"" if n % 11 == 0 else (b"{broken" if n % 5 == 0 else line(n)) for n in range(1, 121)
)
EXPECTED = {"lines": 120, "valid": 120 - 24 - 10 + 2, "invalid": 24 - 2, "blank": 10}
# n % 55 == 0 (55, 110) are both multiples of 5 and 11: blank wins.


def counts_of(up) -> dict[str, int]:
    counts = up.current().counts.model_dump()
    counts.pop("offset")
    return counts


def settings(**overrides: Any):
    return get_settings().model_copy(update=overrides)


class FailingEntryStore(EntryStore):
    """Raises like DynamoDB failing for good after `ok_calls` successful writes."""

    def __init__(self, ok_calls: int, error: type[BaseException] = DependencyError) -> None:
        super().__init__()
        self.ok_calls = ok_calls
        self.error = error

    def _put_all(self, items: Any) -> None:
        if self.ok_calls <= 0:
            raise self.error("DynamoDB is down")
        self.ok_calls -= 1
        super()._put_all(items)


def test_crash_midway_then_redelivery_converges(upload, monkeypatch) -> None:
    monkeypatch.setattr(service_module, "FLUSH_ITEMS", 4)  # writes ahead of checkpoints
    up = upload(DATA)
    config = settings(ingest_checkpoint_lines=10)
    crashing = IngestService(RecordingPublisher(), entries=FailingEntryStore(9), settings=config)
    with pytest.raises(RetryableIngestError):
        crashing.run(OWNER, up.job.job_id, plenty)
    midway = up.current()
    assert midway.status is JobStatus.PROCESSING
    assert 0 < midway.counts.lines < 120
    assert midway.lease_owner is None  # released: the retry can start at once
    written = {e.line for e in up.entries.page_entries(OWNER, up.job.job_id, 200, limit=500)[0]}
    assert max(written) > midway.counts.lines  # some lines were stored beyond the checkpoint

    assert (
        IngestService(RecordingPublisher(), settings=config).run(OWNER, up.job.job_id, plenty)
        is IngestOutcome.COMPLETED
    )
    assert counts_of(up) == EXPECTED
    entries = up.stored_entries()
    assert len(entries) == EXPECTED["valid"]
    assert len({e.line for e in entries}) == len(entries)
    assert len(up.stored_invalid()) == EXPECTED["invalid"]


class Killed(BaseException):
    """The Lambda runtime killing the process: nothing gets to clean up."""


def test_hard_kill_keeps_the_lease_until_it_expires(upload) -> None:
    up = upload(DATA)
    config = settings(ingest_checkpoint_lines=10, ingest_lease_s=1)
    dying = IngestService(
        RecordingPublisher(), entries=FailingEntryStore(3, Killed), settings=config
    )
    with pytest.raises(Killed):
        dying.run(OWNER, up.job.job_id, plenty)
    assert up.current().lease_owner is not None
    retry = IngestService(RecordingPublisher(), settings=config)
    with pytest.raises(JobBusyError):
        retry.run(OWNER, up.job.job_id, plenty)
    time.sleep(2.1)  # the dead worker's lease expires
    assert retry.run(OWNER, up.job.job_id, plenty) is IngestOutcome.COMPLETED
    assert counts_of(up) == EXPECTED
    assert len(up.stored_entries()) == EXPECTED["valid"]


class Budget:
    """A remaining-time function that runs low after `lines` calls."""

    def __init__(self, lines: int) -> None:
        self.left = lines

    def __call__(self) -> int:
        self.left -= 1
        return 900_000 if self.left > 0 else 1_000


def test_tiny_time_budget_hands_over_through_continuation_messages(aws, upload) -> None:
    up = upload(DATA)
    queue_url = get_settings().ingest_queue_url
    aws.sqs.purge_queue(QueueUrl=queue_url)  # moto queued the upload's S3 notification
    ingest = IngestService(RecordingPublisher(), settings=settings(ingest_checkpoint_lines=7))
    assert ingest.run(OWNER, up.job.job_id, Budget(25)) is IngestOutcome.CONTINUED
    assert up.current().lease_owner is None
    runs = 1
    outcome = IngestOutcome.CONTINUED
    while outcome is IngestOutcome.CONTINUED:
        received = aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        (message,) = received["Messages"]  # exactly one continuation per hand-over
        assert json.loads(message["Body"]) == {
            "type": "ingest.continue",
            "owner": OWNER,
            "job_id": up.job.job_id,
        }
        aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        (outcome,) = ingest.handle_message(message["Body"], Budget(25))
        runs += 1
        assert runs < 20
    assert outcome is IngestOutcome.COMPLETED
    assert runs == 5  # 24 lines a run (the budget's 25th check stops it), 120 lines
    assert counts_of(up) == EXPECTED
    assert len(up.stored_entries()) == EXPECTED["valid"]
    assert "Messages" not in aws.sqs.receive_message(QueueUrl=queue_url)


def test_every_run_makes_progress_even_without_time(aws, upload) -> None:
    up = upload(DATA)
    ingest = IngestService(RecordingPublisher())
    assert ingest.run(OWNER, up.job.job_id, lambda: 0) is IngestOutcome.CONTINUED
    assert up.current().counts.lines == 1


class ThrottlingDynamo:
    """Wraps the real client; each BatchWriteItem stores only its first item the first time."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.unprocessed_returned = 0
        self._throttle_next = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def batch_write_item(self, RequestItems: dict[str, list]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        if self._throttle_next and len(requests) > 1:
            self._throttle_next = False
            self.real.batch_write_item(RequestItems={table: requests[:1]})
            self.unprocessed_returned += len(requests) - 1
            return {"UnprocessedItems": {table: requests[1:]}}
        self._throttle_next = True
        return self.real.batch_write_item(RequestItems=RequestItems)


def test_unprocessed_items_are_retried(aws, upload) -> None:
    up = upload(DATA)
    throttling = ThrottlingDynamo(aws.dynamodb)
    entries = EntryStore(client=throttling, sleep=lambda _s: None)
    ingest = IngestService(RecordingPublisher(), entries=entries)
    assert ingest.run(OWNER, up.job.job_id, plenty) is IngestOutcome.COMPLETED
    assert throttling.unprocessed_returned > 0
    assert counts_of(up) == EXPECTED
    assert len(up.stored_entries()) == EXPECTED["valid"]
    assert len(up.stored_invalid()) == EXPECTED["invalid"]


def test_transient_failures_retry_until_the_last_delivery_then_fail(upload, publisher) -> None:
    up = upload(DATA)
    request = IngestRequest(OWNER, up.job.job_id, object_key=up.key)
    config = settings(ingest_max_receive_count=3)
    broken = IngestService(publisher, entries=FailingEntryStore(0), settings=config)
    for attempt in (1, 2):
        with pytest.raises(RetryableIngestError):
            broken.process(request, plenty, receive_count=attempt)
        assert up.current().status is JobStatus.PROCESSING
    assert broken.process(request, plenty, receive_count=3) is IngestOutcome.FAILED
    job = up.current()
    assert job.status is JobStatus.FAILED
    assert job.error == "gave up after 3 attempts: DynamoDB is down"
    assert publisher.jobs[-1].status is JobStatus.FAILED


def test_busy_on_the_last_delivery_defers_to_a_delayed_continuation(aws, upload) -> None:
    up = upload(DATA)
    JobStore().claim(OWNER, up.job.job_id, "someone-else", 60)
    ingest = IngestService(RecordingPublisher(), settings=settings(ingest_max_receive_count=2))
    request = IngestRequest(OWNER, up.job.job_id)
    with pytest.raises(JobBusyError):
        ingest.process(request, plenty, receive_count=1)
    assert ingest.process(request, plenty, receive_count=2) is IngestOutcome.DEFERRED
    assert up.current().status is JobStatus.PROCESSING  # not failed: someone is working on it
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=get_settings().ingest_queue_url,
        AttributeNames=["ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_malformed_message_is_acknowledged(upload) -> None:
    assert IngestService(RecordingPublisher()).handle_message("{nope", plenty) == [
        IngestOutcome.SKIPPED
    ]


class BuggyEntryStore(EntryStore):
    def _put_all(self, items: Any) -> None:
        raise TypeError("a bug")


def test_an_unexpected_error_releases_the_lease_and_fails_on_the_last_delivery(upload) -> None:
    up = upload(DATA)
    request = IngestRequest(OWNER, up.job.job_id)
    config = settings(ingest_max_receive_count=2)
    buggy = IngestService(RecordingPublisher(), entries=BuggyEntryStore(), settings=config)
    with pytest.raises(RetryableIngestError):
        buggy.process(request, plenty, receive_count=1)
    assert up.current().lease_owner is None
    assert buggy.process(request, plenty, receive_count=2) is IngestOutcome.FAILED
    job = up.current()
    assert job.status is JobStatus.FAILED
    assert job.error == "gave up after 2 attempts: internal error"  # no internals leak
