"""Exactness under at-least-once delivery: rerun, redelivery, a crash between a segment's
aggregates and its checkpoint, continuations, and a stale writer's segment."""

from __future__ import annotations

from typing import Any

import pytest

from horizon.analytics import AggregateStore, QueryBody, QueryService, SegmentAggregator
from horizon.errors import DependencyError
from horizon.ingest import IngestDependencyError, IngestOutcome, continuation_body, validate_line
from horizon.ingest.reader import iter_lines
from horizon.jobs import JobStatus, JobStore
from tests.unit.analytics.conftest import (
    OWNER,
    create_job,
    drop_compacted,
    ingest_service,
    jsonl,
    plenty,
)
from tests.unit.analytics.generated import generate

QUERIES: list[dict[str, Any]] = [
    {
        "metric": "avg",
        "field": "response_time_ms",
        "filter": {"api_id": "api-1", "http_status": 200, "response_time_ms": {"gt": 100}},
    },
    {"metric": "p95", "field": "response_time_ms", "filter": {"endpoint": "/orders"}},
    {"metric": "count", "filter": {"event_type": "login_failure"}, "window": {"size": "10m"}},
    {
        "metric": "count",
        "filter": {"event_type": "login_failure"},
        "window": {"size": "10m", "mode": "sliding"},
        "top": 3,
    },
    {"metric": "count", "filter": {"error_code": 500}},
]


def answers(job_id: str, use_aggregates: bool = True) -> list[tuple[Any, ...]]:
    service = QueryService(use_aggregates=use_aggregates)
    found = []
    for query in QUERIES:
        answer = service.run(OWNER, QueryBody.model_validate({**query, "job_ids": [job_id]}))
        found.append((answer.source, answer.value, answer.n, answer.windows))
    return found


@pytest.fixture
def data() -> bytes:
    rows, _ = generate(1500, seed=11)
    return jsonl(rows)


@pytest.fixture
def reference(aws, data) -> list[tuple[Any, ...]]:
    """The answers of a clean, single-pass ingest."""
    job = create_job(aws, data)
    assert ingest_service(ingest_checkpoint_lines=200).run(OWNER, job.job_id, plenty) == "completed"
    found = answers(job.job_id)
    assert {source for source, *_ in found} == {"aggregates"}
    return found


def test_rerun_and_redelivered_messages_change_nothing(aws, data, reference) -> None:
    job = create_job(aws, data)
    service = ingest_service(ingest_checkpoint_lines=200)
    body = continuation_body(OWNER, job.job_id)
    assert service.handle_message(body, plenty) == [IngestOutcome.COMPLETED]
    assert service.handle_message(body, plenty) == [IngestOutcome.ALREADY_FINISHED]
    assert service.run(OWNER, job.job_id, plenty) is IngestOutcome.ALREADY_FINISHED
    assert answers(job.job_id) == reference


def test_the_same_file_uploaded_twice_answers_the_same(aws, data, reference) -> None:
    for _ in range(2):
        job = create_job(aws, data)
        ingest_service(ingest_checkpoint_lines=200).run(OWNER, job.job_id, plenty)
        assert answers(job.job_id) == reference


def test_crash_after_aggregates_before_checkpoint(aws, data, reference, monkeypatch) -> None:
    job = create_job(aws, data)
    real = JobStore.checkpoint
    calls = {"n": 0}

    def flaky(self: JobStore, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # the third segment's aggregates are stored, its commit fails
            raise DependencyError("dynamodb throttled")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(JobStore, "checkpoint", flaky)
    with pytest.raises(IngestDependencyError):
        ingest_service(ingest_checkpoint_lines=200).run(OWNER, job.job_id, plenty)
    assert 0 < JobStore().get(OWNER, job.job_id).counts.lines < 1500
    # The retry resumes at the last checkpoint with other segment bounds, overwriting the
    # orphaned item written there.
    outcome = ingest_service(ingest_checkpoint_lines=300).run(OWNER, job.job_id, plenty)
    assert outcome is IngestOutcome.COMPLETED
    assert answers(job.job_id) == reference


def test_continuations_keep_answers_exact(aws, data, reference) -> None:
    job = create_job(aws, data)
    service = ingest_service(ingest_checkpoint_lines=10_000, ingest_time_reserve_ms=1000)
    # Each invocation has time for some lines, then runs low and hands over.
    budgets = iter([[5000] * 4, *([[5000] * 300] * 20)])
    outcomes = []
    while not outcomes or outcomes[-1] is IngestOutcome.CONTINUED:
        budget = iter(next(budgets))
        outcomes.append(service.run(OWNER, job.job_id, lambda b=budget: next(b, 0) + 1))
    assert outcomes.count(IngestOutcome.CONTINUED) >= 2
    assert outcomes[-1] is IngestOutcome.COMPLETED
    assert answers(job.job_id) == reference


def _segment(data: bytes, start: int, end: int) -> Any:
    """What a (stale) writer would compute for lines (start, end]: the same pure function."""
    aggregator = None
    end_offset = 0
    for line in iter_lines(__import__("io").BytesIO(data)):
        if line.number == start + 1:
            aggregator = SegmentAggregator(start, end_offset)
        if aggregator is not None and line.raw and not line.raw.isspace():
            entry, _ = validate_line(line.raw)
            if entry is not None:
                aggregator.add(line.number, entry)
        end_offset = line.end_offset
        if line.number == end:
            assert aggregator is not None
            return aggregator.finish(end, end_offset)
    raise AssertionError("range beyond the file")


def test_a_stale_writers_segment_never_changes_an_answer(aws, data, reference) -> None:
    job = create_job(aws, data)
    ingest_service(ingest_checkpoint_lines=200).run(OWNER, job.job_id, plenty)
    store = AggregateStore()
    starts = sorted(int(i["line"]["N"]) for i in store._query(f"{OWNER}#{job.job_id}#AR"))
    first, second, third = starts[1:4]
    # While the compacted items stand, queries never look at the segments at all.
    store.put_segment(OWNER, job.job_id, _segment(data, first, second + 1))
    assert answers(job.job_id) == reference
    drop_compacted(aws, job.job_id)  # from here on the chain answers
    # A writer that lost its lease overwrote the item at `first` with a segment ending between
    # committed boundaries: no segment starts there, so the chain breaks and the planner reads
    # the entries.
    store.put_segment(OWNER, job.job_id, _segment(data, first, second + 1))
    stale = answers(job.job_id)
    assert {source for source, *_ in stale} == {"entries"}
    assert [a[1:] for a in stale] == [a[1:] for a in reference]
    # One that ended on a committed boundary is a valid chain link: from aggregates, exact.
    store.put_segment(OWNER, job.job_id, _segment(data, first, third))
    assert answers(job.job_id) == reference


def test_a_job_still_processing_is_answered_up_to_its_checkpoint(aws, data) -> None:
    job = create_job(aws, data)
    service = ingest_service(ingest_checkpoint_lines=200, ingest_time_reserve_ms=1000)
    budget = iter([5000] * 450 + [0] * 10_000)
    assert service.run(OWNER, job.job_id, lambda: next(budget, 0) + 1) == "continued"
    current = JobStore().get(OWNER, job.job_id)
    assert current.status is JobStatus.PROCESSING
    planned, reference = answers(job.job_id), answers(job.job_id, use_aggregates=False)
    assert planned[0][0] == "aggregates"
    assert [a[1:] for a in planned] == [a[1:] for a in reference]


def test_manifests_lead_readers_across_runs_without_queries(aws, data, reference, monkeypatch):
    job = create_job(aws, data)
    outcome = None
    while outcome is not IngestOutcome.COMPLETED:
        # A new service per run: as if each continuation ran in another Lambda container.
        service = ingest_service(ingest_checkpoint_lines=200, ingest_time_reserve_ms=1000)
        budget = iter([5000] * 400)
        outcome = service.run(OWNER, job.job_id, lambda b=budget: next(b, 0) + 1)
        assert outcome in (IngestOutcome.CONTINUED, IngestOutcome.COMPLETED)

    def no_query(self: AggregateStore, pk: str) -> list:
        raise AssertionError(f"the manifests should have led to every item, not a Query of {pk}")

    monkeypatch.setattr(AggregateStore, "_query", no_query)
    assert answers(job.job_id) == reference
