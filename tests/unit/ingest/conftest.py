"""Fixtures of the ingest tests: jobs with uploaded objects, a recording publisher, clocks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from horizon.entries import EntryStore, InvalidLine, StoredEntry
from horizon.jobs import Job, JobStore
from tests.conftest import Aws, create_job

OWNER = "acme"


class RecordingPublisher:
    """Records every job state it is asked to publish."""

    def __init__(self, fail: bool = False) -> None:
        self.jobs: list[Job] = []
        self.fail = fail
        self._lock = threading.Lock()

    def publish(self, job: Job) -> None:
        with self._lock:
            self.jobs.append(job)
        if self.fail:
            raise RuntimeError("websocket down")


@dataclass
class Upload:
    job: Job
    key: str
    data: bytes
    jobs: JobStore = field(default_factory=JobStore)
    entries: EntryStore = field(default_factory=EntryStore)

    def current(self) -> Job:
        return self.jobs.get(self.job.owner, self.job.job_id)

    def stored_entries(self) -> list[StoredEntry]:
        return _all(self.entries.page_entries, self.job, self.current().counts.lines + 1)

    def stored_invalid(self) -> list[InvalidLine]:
        return _all(self.entries.page_invalid, self.job, self.current().counts.lines + 1)


def _all(page: Callable, job: Job, last_line: int) -> list:
    found: list = []
    after: int | None = 0
    while after is not None:
        items, after = page(job.owner, job.job_id, last_line, after=after, limit=100)
        found.extend(items)
    return found


@pytest.fixture
def upload(aws: Aws) -> Callable[..., Upload]:
    """Make a queued job and put its object: `upload(b"...lines...", file_name=...)`."""

    def make(data: bytes, file_name: str = "app.jsonl", owner: str = OWNER) -> Upload:
        job = create_job(aws, data, file_name, owner)
        return Upload(job=job, key=job.object_key, data=data)

    return make


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


def plenty() -> int:
    """A remaining-time function that never runs low."""
    return 900_000


def line(n: int, **extra: object) -> bytes:
    """A valid JSON line with a distinct message."""
    import orjson

    return orjson.dumps({"timestamp": "2026-11-22T04:00:00Z", "message": f"m{n}", **extra})
