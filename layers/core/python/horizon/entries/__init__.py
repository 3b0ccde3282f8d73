"""Stored log entries and invalid-line reports of ingest jobs."""

from horizon.entries.store import (
    BLOCK_LINES,
    EntryStore,
    InvalidLine,
    NumberedEntry,
    StoredEntry,
)

__all__ = ["BLOCK_LINES", "EntryStore", "InvalidLine", "NumberedEntry", "StoredEntry"]
