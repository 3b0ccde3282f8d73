"""CSV logs with a header row: each row becomes the JSON object a `.jsonl` line would be.

The first line of the file names the columns. A row maps header → cell; empty cells are
left out (like an absent field), the known numeric fields are parsed from their text
(`http_status` and `error_code` as integers, `response_time_ms` as a number), every other
cell stays a string. The object is then checked by the same `validate_line` as JSON Lines,
so one contract and one set of reasons applies ("http_status must be an integer, not a
string" for a cell such as "teapot").

Limitation: the ingest is line-based (checkpoints are byte offsets of line breaks), so a
quoted cell spanning several lines is not supported: its pieces are reported invalid.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import orjson

from horizon.ingest.reader import iter_lines
from horizon.ingest.source import open_object
from horizon.ingest.validator import Result, validate_line

CSV_EXTENSION = ".csv"
HEADER_LINES = 1
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INTEGER_FIELDS = frozenset(("http_status", "error_code"))
_NUMBER_FIELDS = frozenset(("response_time_ms",))


def is_csv(file_name: str) -> bool:
    """Return whether a job's file is a CSV log (by its name)."""
    return file_name.lower().endswith(CSV_EXTENSION)


def parse_row(raw: bytes) -> list[str] | None:
    """Return the cells of one CSV line, or None when it is not UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return next(csv.reader([text]), [])


def read_header(s3: Any, bucket: str, key: str, max_line_bytes: int) -> list[str]:
    """Read the column names from the object's first line ([] when there is none).

    Raises:
        ObjectUnavailableError, IngestDependencyError: as `open_object`.
    """
    source = open_object(s3, bucket, key, 0)
    try:
        for line in iter_lines(source.body, 0, 0, max_line_bytes):
            cells = parse_row(line.raw) if line.raw is not None else None
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
        cells = parse_row(raw)
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
