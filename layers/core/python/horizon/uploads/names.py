"""What an upload may be called and typed as."""

from __future__ import annotations

import re
import unicodedata

from horizon.errors import InvalidRequestError, UnsupportedMediaError

EXTENSIONS = (".jsonl", ".ndjson", ".csv")  # CSV: a header row, see horizon.ingest.csv_lines
CONTENT_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/jsonl",
        "application/json",
        "text/plain",
        "application/octet-stream",
        "text/csv",
        "application/csv",
    }
)
STORED_CONTENT_TYPE = "application/x-ndjson"
MAX_NAME_CHARS = 128

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(file_name: str) -> str:
    """Return a file name safe inside an S3 key and for display.

    Drops any directory part (both separators), control characters and anything outside
    `[A-Za-z0-9._-]` (replaced by `_`), leading dots, and keeps the extension within
    MAX_NAME_CHARS.

    Raises:
        InvalidRequestError: nothing usable is left.
    """
    base = re.split(r"[/\\]", file_name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = _UNSAFE.sub("_", base).lstrip(".")
    if len(base) > MAX_NAME_CHARS:
        stem, dot, ext = base.rpartition(".")
        ext = ext[:16]
        base = (
            f"{stem[: MAX_NAME_CHARS - len(ext) - 1]}{dot}{ext}" if dot else base[:MAX_NAME_CHARS]
        )
    if not base.strip("._-"):
        raise InvalidRequestError("the file name is empty after removing unsafe characters")
    return base


def check_type(file_name: str, content_type: str | None) -> None:
    """Check that the file is a JSON Lines log (or a CSV log with a header row).

    Args:
        file_name: the name the client gave.
        content_type: the declared media type (parameters such as charset are ignored);
            None or empty when not declared.

    Raises:
        UnsupportedMediaError: wrong extension or media type.
    """
    if not file_name.lower().endswith(EXTENSIONS):
        raise UnsupportedMediaError("only .jsonl (or .ndjson) and .csv log files are accepted")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in CONTENT_TYPES:
        raise UnsupportedMediaError(
            f"content type {media} is not accepted; use application/x-ndjson"
        )
