"""IngestService on moto: counts, stored entries, progress, redelivery, concurrency, failures."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from horizon.ingest import IngestOutcome, IngestService, JobBusyError
from horizon.jobs import JobStatus, JobStore
from horizon.settings import get_settings
from tests.unit.ingest.conftest import OWNER, RecordingPublisher, line, plenty

MIXED = b"\r\n".join(
    [
        b'\xef\xbb\xbf{"timestamp": "2026-11-22T04:00:00Z", "level": "INFO", "message": "first"}',
        b"",
        b'{"timestamp": "2026-11-22T04:00:01+02:00", "http_status": 200, "trace": {"id": 7}}',
        b"not json at all",
        b'{"timestamp": "2026-11-22T04:00:02Z", "http_status": true}',
        b"   ",
        b'{"message": "no timestamp"}',
        b'{"timestamp": "2026-11-22T04:00:03.5", "response_time_ms": 12.5}',
        b'["an", "array"]',
        b'{"timestamp": "2026-11-22T04:00:04Z", "message": "last, no newline"}',
    ]
)


def service(publisher: Any = None, **overrides: Any) -> IngestService:
    settings = get_settings().model_copy(update=overrides)
    return IngestService(publisher=publisher or RecordingPublisher(), settings=settings)


def test_happy_path_counts_entries_and_invalid_lines(upload, publisher) -> None:
    up = upload(MIXED)
    outcome = service(publisher).run(OWNER, up.job.job_id, plenty)
    assert outcome is IngestOutcome.COMPLETED
    job = up.current()
    assert job.status is JobStatus.COMPLETED
    assert job.counts.model_dump() == {
        "offset": len(MIXED),
        "lines": 10,
        "valid": 4,
        "invalid": 4,
        "blank": 2,
    }
    assert job.lease_owner is None
    assert job.finished_at is not None
    entries = up.stored_entries()
    assert [e.line for e in entries] == [1, 3, 8, 10]
    assert entries[0].entry == {
        "timestamp": "2026-11-22T04:00:00.000Z",
        "timestamp_ms": 1795320000000,
        "level": "INFO",
        "message": "first",
    }
    assert entries[1].entry["timestamp"] == "2026-11-22T02:00:01.000Z"
    assert entries[1].entry["attributes"] == {"trace": {"id": 7}}
    assert entries[2].entry["response_time_ms"] == 12.5
    assert entries[3].entry["message"] == "last, no newline"
    invalid = up.stored_invalid()
    assert [(i.line, i.raw) for i in invalid] == [
        (4, "not json at all"),
        (5, '{"timestamp": "2026-11-22T04:00:02Z", "http_status": true}'),
        (7, '{"message": "no timestamp"}'),
        (9, '["an", "array"]'),
    ]
    reasons = [i.reason for i in invalid]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "http_status must be an integer, not a boolean"
    assert reasons[2] == "missing timestamp"
    assert reasons[3] == "not a JSON object (found an array)"
    # Published: claimed (processing) first, completed last.
    assert publisher.jobs[0].status is JobStatus.PROCESSING
    assert publisher.jobs[-1].status is JobStatus.COMPLETED
    assert publisher.jobs[-1].percent == 100


def test_lf_only_file_with_trailing_newline(upload) -> None:
    data = b"\n".join(line(n) for n in range(5)) + b"\n"
    up = upload(data)
    assert service().run(OWNER, up.job.job_id, plenty) is IngestOutcome.COMPLETED
    assert up.current().counts.lines == 5
    assert up.current().counts.valid == 5


def test_empty_file_completes_with_zero_counts(upload) -> None:
    up = upload(b"")
    assert service().run(OWNER, up.job.job_id, plenty) is IngestOutcome.COMPLETED
    assert up.current().counts.lines == 0
    assert up.current().status is JobStatus.COMPLETED


def test_too_long_line_is_invalid_and_the_job_goes_on(upload) -> None:
    data = line(1) + b"\n" + b'{"x": "' + b"a" * 5000 + b'"}\n' + line(3)
    up = upload(data)
    ingest = IngestService(publisher=RecordingPublisher(), max_line_bytes=1024)
    assert ingest.run(OWNER, up.job.job_id, plenty) is IngestOutcome.COMPLETED
    counts = up.current().counts
    assert (counts.lines, counts.valid, counts.invalid) == (3, 2, 1)
    (report,) = up.stored_invalid()
    assert report.line == 2
    assert report.reason == "line too long (over 1024 bytes)"
    assert len(report.raw) <= 256


def test_redelivery_after_completion_changes_nothing(upload) -> None:
    up = upload(MIXED)
    ingest = service()
    assert ingest.run(OWNER, up.job.job_id, plenty) is IngestOutcome.COMPLETED
    before = up.current()
    entries = up.stored_entries()
    assert ingest.run(OWNER, up.job.job_id, plenty) is IngestOutcome.ALREADY_FINISHED
    after = up.current()
    assert after.model_dump() == before.model_dump()
    assert up.stored_entries() == entries


def test_the_same_message_twice_concurrently_counts_exactly(upload) -> None:
    data = b"\n".join(line(n) if n % 7 else b"bad" for n in range(600))
    up = upload(data)
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        ingest = service(ingest_checkpoint_lines=50)
        barrier.wait()
        try:
            outcomes.append(ingest.run(OWNER, up.job.job_id, plenty))
        except JobBusyError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes.count(IngestOutcome.COMPLETED) == 1
    assert all(
        o in (IngestOutcome.COMPLETED, IngestOutcome.ALREADY_FINISHED, IngestOutcome.LEASE_LOST)
        or isinstance(o, JobBusyError)
        for o in outcomes
    )
    counts = up.current().counts
    assert (counts.lines, counts.valid, counts.invalid) == (600, 514, 86)
    assert len(up.stored_entries()) == 514
    assert len(up.stored_invalid()) == 86


def test_progress_is_published_at_least_every_ten_percent(upload, publisher) -> None:
    data = b"\n".join(line(n % 10) for n in range(200)) + b"\n"  # equal-length lines
    up = upload(data)
    service(publisher, ingest_checkpoint_lines=100_000).run(OWNER, up.job.job_id, plenty)
    percents = [job.percent for job in publisher.jobs]
    assert percents[0] == 0
    assert percents[-1] == 100
    assert all(b - a <= 10 for a, b in itertools.pairwise(percents)), percents
    assert len(percents) >= 11
    seqs = [job.seq for job in publisher.jobs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_checkpoints_every_n_lines(upload, publisher) -> None:
    data = b"\n".join(line(n) for n in range(25))
    up = upload(data + b"\n" + b"x" * 100_000)  # the tail keeps the 10% marks out of the way
    service(publisher, ingest_checkpoint_lines=5).run(OWNER, up.job.job_id, plenty)
    checkpoints = [j.counts.lines for j in publisher.jobs if j.status is JobStatus.PROCESSING]
    assert checkpoints[:6] == [0, 5, 10, 15, 20, 25]


def test_publisher_failures_never_fail_the_ingest(upload) -> None:
    up = upload(MIXED)
    failing = RecordingPublisher(fail=True)
    assert service(failing).run(OWNER, up.job.job_id, plenty) is IngestOutcome.COMPLETED
    assert up.current().counts.valid == 4
    assert len(failing.jobs) >= 2


def test_deleted_object_fails_the_job_with_a_reason(aws, upload, publisher) -> None:
    up = upload(MIXED)
    aws.s3.delete_object(Bucket=get_settings().uploads_bucket, Key=up.key)
    assert service(publisher).run(OWNER, up.job.job_id, plenty) is IngestOutcome.FAILED
    job = up.current()
    assert job.status is JobStatus.FAILED
    assert job.error == "the uploaded object no longer exists"
    assert publisher.jobs[-1].status is JobStatus.FAILED
    # A redelivery finds it finished.
    assert service().run(OWNER, up.job.job_id, plenty) is IngestOutcome.ALREADY_FINISHED


class DeniedS3:
    def get_object(self, **_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")


def test_access_denied_fails_the_job(upload) -> None:
    up = upload(MIXED)
    ingest = IngestService(publisher=RecordingPublisher(), s3=DeniedS3())
    assert ingest.run(OWNER, up.job.job_id, plenty) is IngestOutcome.FAILED
    assert up.current().error == "the uploaded object cannot be read (access denied)"


def test_missing_job_and_foreign_keys_are_skipped(upload) -> None:
    up = upload(MIXED)
    ingest = service()
    assert ingest.run(OWNER, "no-such-job", plenty) is IngestOutcome.SKIPPED
    assert ingest.run("other-owner", up.job.job_id, plenty) is IngestOutcome.SKIPPED
    other_key = f"uploads/{OWNER}/{up.job.job_id}/other.jsonl"
    assert ingest.run(OWNER, up.job.job_id, plenty, object_key=other_key) is IngestOutcome.SKIPPED
    assert up.current().status is JobStatus.QUEUED  # untouched
    assert ingest.run(OWNER, up.job.job_id, plenty, object_key=up.key) is IngestOutcome.COMPLETED


def test_job_leased_elsewhere_is_busy(upload) -> None:
    up = upload(MIXED)
    JobStore().claim(OWNER, up.job.job_id, "someone-else", 60)
    with pytest.raises(JobBusyError):
        service().run(OWNER, up.job.job_id, plenty)
    assert up.current().lease_owner == "someone-else"


def test_demo_line_delay_sleeps_per_line(upload) -> None:
    up = upload(MIXED)
    slept: list[float] = []
    settings = get_settings().model_copy(update={"ingest_line_delay_max_s": 0.05})
    ingest = IngestService(publisher=RecordingPublisher(), settings=settings, sleep=slept.append)
    assert ingest.run(OWNER, up.job.job_id, plenty) is IngestOutcome.COMPLETED
    assert len(slept) == 10
    assert all(0 <= s <= 0.05 for s in slept)
    assert len(set(slept)) > 1  # random, not a constant pause
