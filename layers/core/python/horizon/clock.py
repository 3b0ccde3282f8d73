"""Time in one place: ISO 8601 UTC strings for stored timestamps, epoch seconds for TTLs."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds and a `Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_s() -> int:
    """Return the current Unix time in whole seconds."""
    return int(time.time())


def epoch_of(iso: str) -> float:
    """Return the Unix time of an ISO 8601 timestamp as `now_iso` writes it."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
