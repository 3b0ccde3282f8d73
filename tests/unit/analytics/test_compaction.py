"""Compacted aggregates: one merged item per part once a job completes.

They must answer exactly as the segment chain and the entries do, be ignored when their
recorded counts are not the job's, survive redelivery unchanged, and never fail a job.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from horizon.analytics import AggregateStore, QueryBody, QueryService, SegmentAggregator
from horizon.analytics.aggregator import PARTS
from horizon.analytics.compaction import merge_payloads
from horizon.analytics.store import _decode, _encode
from horizon.errors import DependencyError
from horizon.ingest import IngestOutcome, continuation_body, validate_line
from horizon.ingest.reader import iter_lines
from horizon.jobs import JobStatus, JobStore
from horizon.settings import get_settings
from tests.unit.analytics.conftest import (
    OWNER,
    create_job,
    drop_compacted,
    ingest_service,
    jsonl,
    plenty,
)
from tests.unit.analytics.generated import generate
from tests.unit.analytics.test_redelivery import QUERIES

ANCHORED = {
    "metric": "count",
    "filter": {"error_code": 500},
    "relative_to": {"filter": {"version_id": {"ne": "none"}}, "duration": "5m"},
}
ALL_QUERIES = [
    *QUERIES,
    ANCHORED,
    {"metric": "sum", "field": "response_time_ms"},
    {"metric": "max", "field": "response_time_ms", "filter": {"http_status": {"in": [200, 404]}}},
    {"metric": "count", "filter": {"event_type": {"ne": "login_failure"}}},
    {"metric": "p95", "field": "response_time_ms", "window": {"size": "10m"}, "top": 3},
]


def answers(job_id: str, use_aggregates: bool = True) -> list[tuple[Any, ...]]:
    service = QueryService(use_aggregates=use_aggregates)
    found = []
    for query in ALL_QUERIES:
        answer = service.run(OWNER, QueryBody.model_validate({**query, "job_ids": [job_id]}))
        rows = [(r.count, r.start, r.value) for r in answer.rows] if answer.rows else None
        found.append((answer.source, answer.value, answer.n, answer.windows, rows))
    return found


def _rest(found: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [a[1:] for a in found]


@pytest.fixture
def data() -> bytes:
    rows, _ = generate(1500, seed=5)
    for index in range(3, len(rows), 40):
        if isinstance(rows[index], dict):
            rows[index] = {**rows[index], "version_id": f"v{index}"}
    return jsonl(rows)


@pytest.fixture
def job_id(aws, data) -> str:
    job = create_job(aws, data)
    assert ingest_service(ingest_checkpoint_lines=200).run(OWNER, job.job_id, plenty) == "completed"
    return job.job_id


def _compacted(aws, job_id: str) -> dict[str, dict[str, Any]]:
    found = {}
    for part in PARTS:
        key = {"pk": {"S": f"{OWNER}#{job_id}#AJ{part}"}, "line": {"N": "0"}}
        item = aws.dynamodb.get_item(TableName=get_settings().entries_table, Key=key)
        if "Item" in item:
            found[part] = item["Item"]
    return found


def _no_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a completed, compacted job should not read its segments")

    for name in ("_hints", "_get_items", "_query"):
        monkeypatch.setattr(AggregateStore, name, refuse)


def test_compacted_answers_equal_the_chain_and_the_entries(aws, job_id, monkeypatch) -> None:
    job = JobStore().get(OWNER, job_id)
    items = _compacted(aws, job_id)
    assert set(items) == set(PARTS)
    for item in items.values():
        assert item["lines"]["N"] == str(job.counts.lines)
        assert item["valid"]["N"] == str(job.counts.valid)
    entries = answers(job_id, use_aggregates=False)
    with monkeypatch.context() as patched:
        _no_segments(patched)
        compacted = answers(job_id)
    drop_compacted(aws, job_id)
    chain = answers(job_id)
    assert {a[0] for a in compacted} == {a[0] for a in chain} == {"aggregates"}
    assert {a[0] for a in entries} == {"entries"}
    assert _rest(compacted) == _rest(chain) == _rest(entries)
    assert any(a[4] for a in compacted)  # the anchored question really had anchors


def test_merging_segments_equals_aggregating_the_whole_range(data) -> None:
    segments, whole = [], SegmentAggregator(0, 0)
    current = SegmentAggregator(0, 0)
    for line in iter_lines(io.BytesIO(data)):
        entry, _ = validate_line(line.raw) if line.raw.strip() else (None, None)
        if entry is not None:
            current.add(line.number, entry)
            whole.add(line.number, entry)
        if line.number % 170 == 0:
            segments.append(current.finish(line.number, line.end_offset))
            current = SegmentAggregator(line.number, line.end_offset)
    segments.append(current.finish(line.number, line.end_offset))
    expected = whole.finish(line.number, line.end_offset)
    for part in PARTS:
        merged = merge_payloads(part, [s.parts[part] for s in segments])
        assert merged == merge_payloads(part, [expected.parts[part]])
        # Through JSON, as stored: the same.
        stored = [orjson.loads(orjson.dumps(s.parts[part])) for s in segments]
        assert merge_payloads(part, stored) == merged


@pytest.mark.parametrize("stale", ["lines", "valid"])
def test_a_compacted_item_with_stale_counts_is_ignored(aws, job_id, stale) -> None:
    reference = answers(job_id)
    table = get_settings().entries_table
    job = JobStore().get(OWNER, job_id)
    # A wrong item: the merge of the first segment only, as if from a shorter chain.
    store = AggregateStore()
    first = store._query(f"{OWNER}#{job_id}#AR")
    wrong = min(first, key=lambda i: int(i["line"]["N"]))
    merged = merge_payloads("R", [_decode("R", wrong["blob"]["B"])])
    item = {
        "pk": {"S": f"{OWNER}#{job_id}#AJR"},
        "line": {"N": "0"},
        "lines": {"N": str(job.counts.lines)},
        "valid": {"N": str(job.counts.valid)},
        "chunks": {"N": "1"},
        "blob": {"B": _encode("R", merged)},
    }
    # With the job's counts on it, the wrong item would be believed: the check is what matters.
    aws.dynamodb.put_item(TableName=table, Item=item)
    assert _rest(answers(job_id)) != _rest(reference)
    # Chunked: a chunk count the other chunks do not share is not believed either.
    aws.dynamodb.put_item(TableName=table, Item={**item, "chunks": {"N": "2"}})
    assert answers(job_id) == reference
    item[stale] = {"N": str(int(item[stale]["N"]) - 1)}
    aws.dynamodb.put_item(TableName=table, Item=item)
    assert answers(job_id) == reference


def test_redelivery_after_completion_leaves_answers_and_items_unchanged(aws, job_id) -> None:
    reference, items = answers(job_id), _compacted(aws, job_id)
    service = ingest_service(ingest_checkpoint_lines=300)
    body = continuation_body(OWNER, job_id)
    assert service.handle_message(body, plenty) == [IngestOutcome.ALREADY_FINISHED]
    assert service.run(OWNER, job_id, plenty) is IngestOutcome.ALREADY_FINISHED
    job = JobStore().get(OWNER, job_id)
    # Compacting again overwrites: the same items, the same bytes (only the run id differs).
    assert AggregateStore().put_compacted(OWNER, job_id, job.counts.lines, job.counts.valid) == [
        *PARTS
    ]
    again = _compacted(aws, job_id)
    assert {p: _without_run(i) for p, i in again.items()} == {
        p: _without_run(i) for p, i in items.items()
    }
    assert again["R"]["run"] != items["R"]["run"]
    assert answers(job_id) == reference
    chunks = AggregateStore()._query(f"{OWNER}#{job_id}#AJR")
    assert len(chunks) == int(items["R"]["chunks"]["N"])


def _without_run(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name != "run"}


def test_a_failed_compaction_never_fails_the_job(aws, data, job_id, monkeypatch) -> None:
    reference = answers(job_id)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise DependencyError("dynamodb throttled")

    monkeypatch.setattr(AggregateStore, "put_compacted", broken)
    job = create_job(aws, data)
    assert ingest_service(ingest_checkpoint_lines=200).run(OWNER, job.job_id, plenty) == "completed"
    assert JobStore().get(OWNER, job.job_id).status is JobStatus.COMPLETED
    assert _compacted(aws, job.job_id) == {}
    assert answers(job.job_id) == reference  # the segment chain answers


def test_a_part_too_large_for_one_item_is_chunked_and_still_exact(aws, job_id, monkeypatch):
    reference = answers(job_id)
    job = JobStore().get(OWNER, job_id)
    monkeypatch.setattr("horizon.analytics.store.MAX_BLOB_BYTES", 2_000)
    monkeypatch.setattr("horizon.analytics.compaction.ELEMENT_VALUES", 64)
    # A few chunks per BatchGetItem, so that reading them takes several.
    monkeypatch.setattr("horizon.analytics.store.CHUNKS_PER_READ", 3)
    assert "R" in AggregateStore().put_compacted(OWNER, job_id, job.counts.lines, job.counts.valid)
    chunks = AggregateStore()._query(f"{OWNER}#{job_id}#AJR")
    assert len(chunks) > 3
    assert all(len(c["blob"]["B"]) <= 2_000 for c in chunks)
    head = next(c for c in chunks if c["line"]["N"] == "0")
    assert head["chunks"]["N"] == str(len(chunks))
    assert {c["run"]["S"] for c in chunks} == {head["run"]["S"]}
    with monkeypatch.context() as patched:
        _no_segments(patched)
        assert answers(job_id) == reference
    # A missing chunk means the chain answers, still exactly.
    aws.dynamodb.delete_item(
        TableName=get_settings().entries_table,
        Key={"pk": {"S": f"{OWNER}#{job_id}#AJR"}, "line": {"N": "4"}},
    )
    assert answers(job_id) == reference


def test_segments_of_another_layout_are_not_read(aws, job_id) -> None:
    reference = answers(job_id, use_aggregates=False)
    drop_compacted(aws, job_id)
    table = get_settings().entries_table
    (item,) = [i for i in AggregateStore()._query(f"{OWNER}#{job_id}#AR") if i["line"]["N"] == "0"]
    # As an older ingest wrote it: no layout marker. The chain breaks; the entries answer.
    del item["format"]
    aws.dynamodb.put_item(TableName=table, Item=item)
    found = answers(job_id)
    assert _rest(found) == _rest(reference)
    rollup_questions = [a[0] for q, a in zip(ALL_QUERIES, found, strict=True) if "field" in q]
    assert set(rollup_questions) == {"entries"}


def test_a_job_merged_in_many_passes_answers_as_its_entries(aws, data, monkeypatch) -> None:
    # Passes of 100 entries: ~15 for this job's 1,470 valid entries, each a read of the chain.
    monkeypatch.setattr("horizon.analytics.compaction.PASS_ENTRIES", 100)
    monkeypatch.setattr("horizon.analytics.compaction.ELEMENT_VALUES", 50)
    reads: list[str] = []
    segments = AggregateStore._segments

    def counted(self, owner, job_id, part, bounds):
        reads.append(part)
        return segments(self, owner, job_id, part, bounds)

    monkeypatch.setattr(AggregateStore, "_segments", counted)
    hint_reads: list[int] = []
    hints = AggregateStore._hints

    def counted_hints(self, owner, job_id, last_line):
        hint_reads.append(last_line)
        return hints(self, owner, job_id, last_line)

    monkeypatch.setattr(AggregateStore, "_hints", counted_hints)
    job = create_job(aws, data)
    service = ingest_service(ingest_checkpoint_lines=200, ingest_compact_max_passes=100)
    assert service.run(OWNER, job.job_id, plenty) == "completed"
    valid = JobStore().get(OWNER, job.job_id).counts.valid
    assert set(_compacted(aws, job.job_id)) == set(PARTS)
    assert reads.count("R") == reads.count("E") == reads.count("C") == -(-valid // 100)
    assert reads.count("A") == 1
    assert len(hint_reads) == 1  # the manifests, once for the four parts
    with monkeypatch.context() as patched:
        _no_segments(patched)
        compacted = answers(job.job_id)
    assert {a[0] for a in compacted} == {"aggregates"}
    assert _rest(compacted) == _rest(answers(job.job_id, use_aggregates=False))


def test_a_compaction_that_fails_half_way_is_never_mixed_with_an_earlier_one(
    aws, job_id, monkeypatch
) -> None:
    reference = answers(job_id)
    job = JobStore().get(OWNER, job_id)
    monkeypatch.setattr("horizon.analytics.store.MAX_BLOB_BYTES", 2_000)
    store = AggregateStore()
    assert store.put_compacted(OWNER, job_id, job.counts.lines, job.counts.valid) == [*PARTS]
    # Another run with other chunk bounds dies after its second chunk, before chunk 0.
    monkeypatch.setattr("horizon.analytics.compaction.ELEMENT_VALUES", 16)
    monkeypatch.setattr("horizon.analytics.compaction.PASS_ENTRIES", 300)
    put = AggregateStore._put_chunk
    written: list[int] = []

    def dies(self, owner, job_id, part, index, *args, **kwargs):
        if len(written) == 2:
            raise DependencyError("the function timed out")
        written.append(index)
        return put(self, owner, job_id, part, index, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(AggregateStore, "_put_chunk", dies)
        with pytest.raises(DependencyError):
            store.put_compacted(OWNER, job_id, job.counts.lines, job.counts.valid)
    assert written == [1, 2]
    # Chunk 0 names the first run, chunks 1 and 2 are the second's: the chain answers.
    assert store.load(OWNER, job_id, "R", job.counts.lines, job.counts.valid) is not None
    assert store._compacted_blobs(OWNER, job_id, "R", job.counts.lines, job.counts.valid) is None
    assert answers(job_id) == reference
    # Run again to the end, the compacted chunks answer again.
    assert store.put_compacted(OWNER, job_id, job.counts.lines, job.counts.valid) == [*PARTS]
    with monkeypatch.context() as patched:
        _no_segments(patched)
        assert answers(job_id) == reference


def test_a_segment_that_changes_under_the_merge_leaves_the_part_to_the_chain(
    aws, data, monkeypatch
) -> None:
    job = create_job(aws, data)
    get_items = AggregateStore._get_items

    def changed(self, owner, job_id, part, starts, with_data=True):
        found = get_items(self, owner, job_id, part, starts, with_data)
        later = sorted(start for start in found if start > 0)
        if with_data and part == "C" and later:
            # As if a stale writer replaced it with a segment of another range after the check.
            item = found[later[0]]
            found[later[0]] = {**item, "end_line": {"N": str(int(item["end_line"]["N"]) + 1)}}
        return found

    monkeypatch.setattr(AggregateStore, "_get_items", changed)
    assert ingest_service(ingest_checkpoint_lines=200).run(OWNER, job.job_id, plenty) == "completed"
    assert set(_compacted(aws, job.job_id)) == {"R", "E", "A"}
    monkeypatch.undo()
    found = answers(job.job_id)
    assert {a[0] for a in found} == {"aggregates"}
    assert _rest(found) == _rest(answers(job.job_id, use_aggregates=False))


def test_a_job_needing_more_passes_than_allowed_is_left_to_its_chain(aws, data) -> None:
    job = create_job(aws, data)
    service = ingest_service(ingest_checkpoint_lines=200, ingest_compact_max_passes=0)
    assert service.run(OWNER, job.job_id, plenty) == "completed"

    assert _compacted(aws, job.job_id) == {}
    assert {a[0] for a in answers(job.job_id)} == {"aggregates"}  # from the segment chain
    assert _rest(answers(job.job_id)) == _rest(answers(job.job_id, use_aggregates=False))
