"""CSV logs with a header row: each row becomes the JSON object a `.jsonl` line would be.

The first line of the file names the columns. A row maps header → cell; empty cells are
left out (like an absent field), the known numeric fields are parsed from their text
(`http_status` and `error_code` as integers, `response_time_ms` as a number), every other
cell stays a string. The object is then checked by the same `validate_line` as JSON Lines,
so one contract and one set of reasons applies ("http_status must be an integer, not a
string" for a cell such as "teapot").

A quoted cell may hold line breaks (RFC 4180): `iter_records` joins the physical lines of
such a record, which is then reported, stored and counted valid or invalid once, under the
number of its first physical line; the job's line count and checkpoints stay physical (a
checkpoint falls only between records, so a resumed ingest starts at a record's start). Line
breaks inside a cell are kept as "\n" (a CR before them is dropped with the line break).
A physical line over the length cap cannot be scanned for quotes: it ends its record.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from horizon.ingest.reader import Line, iter_lines
from horizon.ingest.source import open_object
from horizon.ingest.validator import Result, validate_line

CSV_EXTENSION = ".csv"
HEADER_LINES = 1
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INTEGER_FIELDS = frozenset(("http_status", "error_code"))
_NUMBER_FIELDS = frozenset(("response_time_ms",))
_QUOTE_OR_COMMA = re.compile(rb'[",]')
UNCLOSED_QUOTE = "a quoted field is not closed before the end of the file"


class _Quoting(Enum):
    """Where a scan of a CSV record stands (the csv module's default dialect)."""

    FIELD_START = "at the start of a field"
    UNQUOTED = "inside an unquoted field (a quote there is a plain character)"
    QUOTED = "inside a quoted field (commas and line breaks are part of it)"
    QUOTE_IN_QUOTED = "after a quote inside a quoted field: its end, or half of a doubled one"


def _scan(raw: bytes, state: _Quoting) -> _Quoting:
    """Return the state after `raw`, starting from `state`; only quotes and commas matter."""
    position = 0
    for match in _QUOTE_OR_COMMA.finditer(raw):
        index = match.start()
        quote = raw[index] == 0x22
        if index > position and state in (_Quoting.FIELD_START, _Quoting.QUOTE_IN_QUOTED):
            state = _Quoting.UNQUOTED  # ordinary characters since: the field is unquoted
        if state is _Quoting.QUOTED:
            state = _Quoting.QUOTE_IN_QUOTED if quote else state
        elif state is _Quoting.UNQUOTED:
            state = state if quote else _Quoting.FIELD_START
        else:  # FIELD_START, or QUOTE_IN_QUOTED right after its quote
            state = _Quoting.QUOTED if quote else _Quoting.FIELD_START
        position = index + 1
    if len(raw) > position and state in (_Quoting.FIELD_START, _Quoting.QUOTE_IN_QUOTED):
        state = _Quoting.UNQUOTED
    return state


_QUOTED = _Quoting.QUOTED


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: one physical line, or several joined by line breaks inside quotes.

    Attributes:
        number: its first physical line (what entries and reports are numbered by).
        end_line: its last physical line (what the job's line count and checkpoints hold).
        end_offset: the byte offset just past its last line break.
        raw: the record's bytes (physical lines joined by "\n"), or None when too long.
        head: for a record too long, its first bytes (for the report).
    """

    number: int
    end_line: int
    end_offset: int
    raw: bytes | None
    head: bytes = b""


def end_line(line: Line | Record) -> int:
    """The last physical line of a line (itself) or of a record."""
    return line.end_line if type(line) is Record else line.number


def iter_records(lines: Iterable[Line], max_record_bytes: int) -> Iterator[Record]:
    """Join physical lines into CSV records; a quoted field may span line breaks.

    Args:
        lines: the physical lines, as `iter_lines` yields them.
        max_record_bytes: a longer record is yielded with `raw=None`; its quoting is still
            followed (without keeping its bytes), so the records after it are found correctly.

    Yields:
        Each record in order. At the end of the file, a record whose quote never closed is
        yielded as it is (`CsvRowValidator` then reports `UNCLOSED_QUOTE`).
    """
    parts: list[bytes] | None = None  # the open record's lines (None: none open, or too long)
    first = size = 0
    head = b""
    open_record = False
    last: Line | None = None
    for line in lines:
        last = line
        raw = line.raw
        if not open_record:
            # Most lines hold no quote at all: one C-level test and they are a record.
            if raw is None or b'"' not in raw or _scan(raw, _Quoting.FIELD_START) is not _QUOTED:
                yield Record(line.number, line.number, line.end_offset, raw, line.head)
                continue
            open_record, parts, first, size, head = True, [raw], line.number, len(raw), raw[:256]
            continue
        if raw is None:  # a line too long to scan: it ends the record, which is too long
            yield Record(first, line.number, line.end_offset, None, head)
            open_record, parts = False, None
            continue
        size += 1 + len(raw)
        if parts is not None:
            if size > max_record_bytes:
                parts = None  # too long: follow its quotes from here on, not its bytes
            else:
                parts.append(raw)
        if _scan(raw, _QUOTED) is not _QUOTED:
            joined = b"\n".join(parts) if parts is not None else None
            yield Record(first, line.number, line.end_offset, joined, head)
            open_record, parts = False, None
    if open_record and last is not None:
        joined = b"\n".join(parts) if parts is not None else None
        yield Record(first, last.number, last.end_offset, joined, head)


def is_csv(file_name: str) -> bool:
    """Return whether a job's file is a CSV log (by its name)."""
    return file_name.lower().endswith(CSV_EXTENSION)


def parse_row(raw: bytes) -> list[str] | None:
    """Return the cells of one CSV record, or None when it is not UTF-8.

    Raises:
        csv.Error: the record is not CSV the csv module can read.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return next(csv.reader([text]), [])


def read_header(s3: Any, bucket: str, key: str, max_line_bytes: int) -> list[str]:
    """Read the column names from the object's first record ([] when there is none).

    Raises:
        ObjectUnavailableError, IngestDependencyError: as `open_object`.
    """
    source = open_object(s3, bucket, key, 0)
    try:
        for record in iter_records(iter_lines(source.body, 0, 0, max_line_bytes), max_line_bytes):
            try:
                cells = parse_row(record.raw) if record.raw is not None else None
            except csv.Error:
                cells = None  # then every row is reported against the empty header
            return [cell.strip() for cell in cells] if cells else []
        return []
    finally:
        close = getattr(source.body, "close", None)
        if close is not None:
            close()


class CsvRowValidator:
    """Turns CSV rows into entries with the header's column names.

    Args:
        header: the column names (the first line of the file).
    """

    def __init__(self, header: list[str]) -> None:
        self._header = header

    def __call__(self, raw: bytes) -> Result:
        """Validate one CSV row (without its line break): `(entry, None)` or `(None, reason)`."""
        if not any(self._header):
            return None, "the CSV header row is empty"
        if b'"' in raw and _scan(raw, _Quoting.FIELD_START) is _QUOTED:
            return None, UNCLOSED_QUOTE  # only the file's last record can end so
        try:
            cells = parse_row(raw)
        except csv.Error as error:  # e.g. a bare CR outside quotes
            return None, f"not a valid CSV record: {error}"
        if cells is None:
            return None, "line is not valid UTF-8"
        if len(cells) != len(self._header):
            return None, f"row has {len(cells)} fields, the header has {len(self._header)}"
        row: dict[str, Any] = {}
        for name, cell in zip(self._header, cells, strict=True):
            if not name or cell == "":
                continue
            row[name] = _typed(name, cell)
        return validate_line(orjson.dumps(row))


def _typed(name: str, cell: str) -> Any:
    text = cell.strip()
    if name in _INTEGER_FIELDS and _INTEGER.match(text):
        return int(text)
    if name in _NUMBER_FIELDS and _NUMBER.match(text):
        return int(text) if _INTEGER.match(text) else float(text)
    return cell
