"""CSV logs with a header row: the LogEntry contract with numbers parsed from text."""

from __future__ import annotations

from horizon.entries import EntryStore
from horizon.ingest import IngestOutcome, IngestService
from horizon.ingest.csv_lines import UNCLOSED_QUOTE, CsvRowValidator, end_line, iter_records
from horizon.ingest.reader import Line
from horizon.jobs import JobStore
from horizon.uploads import check_type
from tests.unit.analytics.conftest import OWNER, NullPublisher, create_job, ingest_service

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


# -- quoted cells spanning lines (RFC 4180) ------------------------------------------------

MULTILINE = (
    b"timestamp,level,message,http_status\r\n"
    b'2026-11-22T10:00:00Z,ERROR,"first line\r\n'  # line 2: a message over three lines
    b"second, with a comma\r\n"
    b'and a ""quoted"" end",500\r\n'
    b"2026-11-22T10:00:01Z,INFO,plain,200\r\n"  # line 5
    b'2026-11-22T10:00:02Z,INFO,"two\n'  # line 6: an invalid record over two lines
    b'lines",teapot\n'
    b'2026-11-22T10:00:03Z,INFO,say "hi",200\n'  # line 8: a quote inside an unquoted cell
    b'2026-11-22T10:00:04Z,INFO,"never closed,200\n'  # line 9: to the end of the file
    b"2026-11-22T10:00:05Z,INFO,swallowed,200\n"
)


def ingest_csv(aws, data: bytes, **settings) -> tuple[str, object]:
    job = create_job(aws, data, "multi.csv")
    outcome = ingest_service(**settings).run(OWNER, job.job_id, lambda: 900_000)
    assert outcome is IngestOutcome.COMPLETED
    return job.job_id, JobStore().get(OWNER, job.job_id).counts


def test_a_quoted_cell_may_span_lines_and_is_numbered_by_its_first(aws) -> None:
    job_id, counts = ingest_csv(aws, MULTILINE)
    # Physical lines: 10; records: header, 2–4, 5, 6–7, 8, 9–10.
    assert (counts.lines, counts.valid, counts.invalid, counts.blank) == (10, 3, 2, 1)
    stored, _ = EntryStore().page_entries(OWNER, job_id, 10)
    assert [s.line for s in stored] == [2, 5, 8]
    assert stored[0].entry["message"] == 'first line\nsecond, with a comma\nand a "quoted" end'
    assert stored[0].entry["http_status"] == 500
    assert stored[2].entry["message"] == 'say "hi"'
    invalid, _ = EntryStore().page_invalid(OWNER, job_id, 10)
    assert [(i.line, i.reason) for i in invalid] == [
        (6, "http_status must be an integer, not a string"),
        (9, UNCLOSED_QUOTE),
    ]


def test_checkpoints_and_continuations_fall_between_records(aws) -> None:
    record = b'2026-11-22T10:00:%02dZ,INFO,"a\nb\nc",200\n'
    data = b"timestamp,level,message,http_status\n" + b"".join(record % n for n in range(60))
    job = create_job(aws, data, "spans.csv")
    # Checkpoints every 7 lines (records end every 3), and a continuation after a few.
    service = ingest_service(ingest_time_reserve_ms=1000, ingest_checkpoint_lines=7)
    budget = iter([5000] * 40 + [0] * 10_000)
    assert service.run(OWNER, job.job_id, lambda: next(budget, 0) + 1) is IngestOutcome.CONTINUED
    middle = JobStore().get(OWNER, job.job_id).counts
    assert 0 < middle.lines < 181 and (middle.lines - 1) % 3 == 0  # after a whole record
    assert ingest_service().run(OWNER, job.job_id, lambda: 900_000) is IngestOutcome.COMPLETED
    counts = JobStore().get(OWNER, job.job_id).counts
    assert (counts.lines, counts.valid, counts.invalid, counts.blank) == (181, 60, 0, 1)
    stored, _ = EntryStore().page_entries(OWNER, job.job_id, 181, limit=100)
    assert [s.line for s in stored] == list(range(2, 181, 3))
    assert {s.entry["message"] for s in stored} == {"a\nb\nc"}


def test_a_record_over_the_cap_is_reported_once_and_the_next_ones_are_found(aws) -> None:
    data = (
        b"timestamp,message\n"
        + b'2026-11-22T10:00:00Z,"' + b"x" * 60 + b"\n" + b"y, still quoted" * 5 + b'"\n'
        + b"2026-11-22T10:00:01Z,after\n"
    )  # fmt: skip
    job = create_job(aws, data, "long.csv")
    service = IngestService(publisher=NullPublisher(), max_line_bytes=100)
    assert service.run(OWNER, job.job_id, lambda: 900_000) is IngestOutcome.COMPLETED
    counts = JobStore().get(OWNER, job.job_id).counts
    assert (counts.lines, counts.valid, counts.invalid) == (4, 1, 1)
    invalid, _ = EntryStore().page_invalid(OWNER, job.job_id, 4)
    assert [i.line for i in invalid] == [2]
    assert invalid[0].raw.startswith("2026-11-22T10:00:00Z")
    stored, _ = EntryStore().page_entries(OWNER, job.job_id, 4)
    assert [(s.line, s.entry["message"]) for s in stored] == [(4, "after")]


def physical(*raws: bytes | None) -> list[Line]:
    return [Line(number, number * 10, raw) for number, raw in enumerate(raws, 1)]


def test_records_follow_quotes_not_lines() -> None:
    lines = physical(
        b'a,"b',  # opens a quoted cell
        b'""still"" inside, c',  # doubled quotes and a comma stay inside
        b'end",d',  # closes it
        b'x"y,"z"',  # a quote inside an unquoted cell is plain; "z" opens and closes
        b'"q"r,"',  # after the closing quote r is plain; the last cell opens
        b"",  # a blank line inside the quotes belongs to the cell
        b'"',
    )
    records = list(iter_records(lines, 1000))
    assert [(r.number, r.end_line, r.end_offset) for r in records] == [
        (1, 3, 30),
        (4, 4, 40),
        (5, 7, 70),
    ]
    assert records[0].raw == b'a,"b\n""still"" inside, c\nend",d'
    assert records[2].raw == b'"q"r,"\n\n"'
    assert [end_line(r) for r in records] == [3, 4, 7]
    assert end_line(lines[0]) == 1


def test_a_bare_carriage_return_is_reported_not_raised() -> None:
    reason = CsvRowValidator(["timestamp", "message"])(b"2026-11-22T10:00:00Z,a\rb")[1]
    assert reason is not None and reason.startswith("not a valid CSV record")
