"""CSV logs with a header row: the LogEntry contract with numbers parsed from text."""

from __future__ import annotations

from horizon.entries import EntryStore
from horizon.ingest import IngestOutcome
from horizon.ingest.csv_lines import CsvRowValidator
from horizon.jobs import JobStore
from horizon.uploads import check_type
from tests.unit.analytics.conftest import OWNER, create_job, ingest_service

CSV = (
    b"\xef\xbb\xbftimestamp,api_id,endpoint,http_status,response_time_ms,event_type,region\r\n"
    b"2026-11-22T10:00:00Z,api-1,/users/{id},200,150,,eu\r\n"
    b'2026-11-22T10:00:01Z,api-1,"/users/{id}",200,99.5,login_failure,"us, east"\r\n'
    b"2026-11-22T10:00:02Z,api-1,/users/{id},teapot,10,,eu\r\n"
    b"2026-11-22T10:00:03Z,api-1,/users/{id},200\r\n"
    b"\r\n"
    b"2026-11-22T12:00:04+02:00,api-1,/users/{id},200,250.25,,\r\n"
)


def test_csv_rows_become_entries_and_answer_queries(aws, ask) -> None:
    check_type("app.csv", "text/csv")
    job = create_job(aws, CSV, "app.csv")
    assert ingest_service().run(OWNER, job.job_id, lambda: 900_000) is IngestOutcome.COMPLETED
    counts = JobStore().get(OWNER, job.job_id).counts
    assert (counts.lines, counts.valid, counts.invalid, counts.blank) == (7, 3, 2, 2)
    stored, _ = EntryStore().page_entries(OWNER, job.job_id, 7)
    assert [s.line for s in stored] == [2, 3, 7]
    assert stored[0].entry["http_status"] == 200
    assert stored[0].entry["response_time_ms"] == 150
    assert stored[0].entry["attributes"] == {"region": "eu"}
    assert stored[1].entry["response_time_ms"] == 99.5
    assert stored[1].entry["attributes"] == {"region": "us, east"}
    assert stored[2].entry["timestamp"] == "2026-11-22T10:00:04.000Z"
    assert "attributes" not in stored[2].entry  # the empty cell is absent
    invalid, _ = EntryStore().page_invalid(OWNER, job.job_id, 7)
    assert [(i.line, i.reason) for i in invalid] == [
        (4, "http_status must be an integer, not a string"),
        (5, "row has 4 fields, the header has 7"),
    ]
    answer = ask(
        {
            "job_ids": [job.job_id],
            "metric": "avg",
            "field": "response_time_ms",
            "filter": {"api_id": "api-1", "response_time_ms": {"gt": 100}},
        },
        source="aggregates",
    )
    assert answer.value == (150 + 250.25) / 2


def test_a_resumed_csv_ingest_still_knows_its_header(aws) -> None:
    rows = b"timestamp,http_status\n" + b"".join(
        b"2026-11-22T10:00:%02dZ,200\n" % (n % 60) for n in range(200)
    )
    job = create_job(aws, rows, "big.csv")
    service = ingest_service(ingest_time_reserve_ms=1000, ingest_checkpoint_lines=10_000)
    budget = iter([5000] * 50 + [0] * 10_000)
    first = service.run(OWNER, job.job_id, lambda: next(budget, 0) + 1)
    assert first is IngestOutcome.CONTINUED
    assert ingest_service().run(OWNER, job.job_id, lambda: 900_000) is IngestOutcome.COMPLETED
    counts = JobStore().get(OWNER, job.job_id).counts
    assert (counts.valid, counts.invalid, counts.blank) == (200, 0, 1)


def test_row_validator_reasons() -> None:
    validate = CsvRowValidator(["timestamp", "error_code"])
    assert validate(b"2026-11-22T10:00:00Z,500")[0]["error_code"] == 500
    assert validate(b"2026-11-22T10:00:00Z,5e2")[1] == "error_code must be an integer, not a string"
    assert validate(b",500")[1] == "missing timestamp"
    assert validate(b"\xff,1")[1] == "line is not valid UTF-8"
    assert CsvRowValidator([])(b"a")[1] == "the CSV header row is empty"
