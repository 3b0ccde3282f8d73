"""JobStore against moto: owner scoping, leases, and checkpoints that can never count twice."""

import pytest

from horizon.clock import now_iso
from horizon.errors import ConflictError, NotFoundError
from horizon.jobs import (
    Job,
    JobCounts,
    JobFinishedError,
    JobLeasedError,
    JobStatus,
    JobStore,
    LeaseLostError,
)


def _job(owner: str = "tenant-a", job_id: str = "job-1", size: int = 1000) -> Job:
    stamp = now_iso()
    return Job(
        owner=owner,
        job_id=job_id,
        file_name="app.jsonl",
        size_bytes=size,
        object_key=f"uploads/{owner}/{job_id}/app.jsonl",
        created_at=stamp,
        updated_at=stamp,
    )


@pytest.fixture
def store(aws):
    return JobStore()


def test_create_then_get_is_scoped_by_owner(store):
    store.create(_job())
    assert store.get("tenant-a", "job-1").status is JobStatus.QUEUED
    with pytest.raises(NotFoundError):
        store.get("tenant-b", "job-1")
    with pytest.raises(ConflictError):
        store.create(_job())


def test_list_pages_through_the_owners_jobs_only(store):
    for index in range(5):
        store.create(_job(job_id=f"job-{index}"))
    store.create(_job(owner="tenant-b", job_id="other"))
    first, cursor = store.list("tenant-a", limit=3)
    assert cursor is not None
    rest, end = store.list("tenant-a", limit=3, cursor=cursor)
    ids = [job.job_id for job in first + rest]
    assert sorted(ids) == [f"job-{index}" for index in range(5)]
    assert end is None


def test_claim_is_exclusive_until_the_lease_expires(store):
    store.create(_job())
    claimed = store.claim("tenant-a", "job-1", "worker-1", lease_s=60)
    assert claimed.status is JobStatus.PROCESSING
    assert claimed.started_at is not None
    with pytest.raises(JobLeasedError):
        store.claim("tenant-a", "job-1", "worker-2", lease_s=60)
    # the same worker may claim again (a continuation of its own work)
    store.claim("tenant-a", "job-1", "worker-1", lease_s=60)
    # an expired lease can be taken over
    store.claim("tenant-a", "job-1", "worker-1", lease_s=-10)
    assert store.claim("tenant-a", "job-1", "worker-2", lease_s=60).lease_owner == "worker-2"


def test_claim_of_missing_or_finished_job(store):
    with pytest.raises(NotFoundError):
        store.claim("tenant-a", "nope", "worker-1", lease_s=60)
    store.create(_job())
    job = store.claim("tenant-a", "job-1", "worker-1", lease_s=60)
    store.finish(job, "worker-1", JobStatus.COMPLETED, JobCounts(offset=1000, lines=3, valid=3))
    with pytest.raises(JobFinishedError):
        store.claim("tenant-a", "job-1", "worker-2", lease_s=60)


def test_checkpoint_from_a_stale_offset_is_refused(store):
    store.create(_job())
    job = store.claim("tenant-a", "job-1", "worker-1", lease_s=60)
    moved = store.checkpoint(
        job, "worker-1", JobCounts(offset=500, lines=10, valid=9, invalid=1), 60
    )
    assert moved.counts.valid == 9
    assert moved.seq == job.seq + 1
    # replaying the same step (a redelivery that read the job before) cannot count again
    with pytest.raises(LeaseLostError):
        store.checkpoint(job, "worker-1", JobCounts(offset=500, lines=10, valid=9, invalid=1), 60)
    assert store.get("tenant-a", "job-1").counts.valid == 9


def test_a_second_worker_with_the_same_snapshot_cannot_checkpoint(store):
    # DynamoDB evaluates the condition and the write atomically; moto does not serialize
    # concurrent conditional writes, so this is checked in sequence rather than in a race.
    store.create(_job())
    job = store.claim("tenant-a", "job-1", "worker-1", lease_s=60)
    store.checkpoint(job, "worker-1", JobCounts(offset=100, lines=2, valid=2), 60)
    for counts in (JobCounts(offset=100, lines=2, valid=2), JobCounts(offset=200, lines=4)):
        with pytest.raises(LeaseLostError):
            store.checkpoint(job, "worker-1", counts, 60)
        with pytest.raises(LeaseLostError):
            store.checkpoint(job, "worker-2", counts, 60)
    assert store.get("tenant-a", "job-1").counts == JobCounts(offset=100, lines=2, valid=2)


def test_finish_failed_with_reason_and_fail_is_idempotent(store):
    store.create(_job())
    job = store.claim("tenant-a", "job-1", "worker-1", lease_s=60)
    finished = store.finish(job, "worker-1", JobStatus.FAILED, job.counts, error="object gone")
    assert finished.status is JobStatus.FAILED
    assert finished.error == "object gone"
    assert finished.lease_owner is None
    assert finished.public().percent == 100
    assert store.fail("tenant-a", "job-1", "again") is None


def test_fail_marks_an_unfinished_job(store):
    store.create(_job())
    failed = store.fail("tenant-a", "job-1", "retries exhausted")
    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert failed.finished_at is not None


def test_claim_bumps_seq_and_record_size_needs_the_lease(store):
    store.create(_job(size=0))
    job = store.claim("tenant-a", "job-1", "worker-1", lease_s=60)
    assert job.seq == 1
    sized = store.record_size(job, "worker-1", 4096)
    assert sized.size_bytes == 4096
    with pytest.raises(LeaseLostError):
        store.record_size(job, "worker-2", 1)
