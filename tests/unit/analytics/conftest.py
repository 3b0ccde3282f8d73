"""Fixtures of the analytics tests: ingest a log through IngestService, ask both executors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from horizon.analytics import QueryAnswer, QueryBody, QueryService
from horizon.ingest import IngestOutcome, IngestService
from horizon.jobs import Job, JobStatus, JobStore
from horizon.settings import get_settings
from tests.conftest import Aws
from tests.conftest import create_job as shared_create_job

OWNER = "acme"


class NullPublisher:
    def publish(self, job: Job) -> None:
        pass


def plenty() -> int:
    return 900_000


def jsonl(rows: list[Any]) -> bytes:
    """Rows as JSON Lines; a str row is written as it is (for invalid or odd lines)."""
    return b"\n".join(row.encode() if isinstance(row, str) else orjson.dumps(row) for row in rows)


def create_job(aws: Aws, data: bytes, file_name: str = "app.jsonl", owner: str = OWNER) -> Job:
    return shared_create_job(aws, data, file_name, owner)


def ingest_service(**overrides: Any) -> IngestService:
    settings = get_settings().model_copy(update=overrides)
    return IngestService(publisher=NullPublisher(), settings=settings)


@pytest.fixture
def ingest(aws: Aws) -> Callable[..., str]:
    """`ingest(rows_or_bytes, file_name=..., checkpoint_lines=...)` → the completed job's id."""

    def run(
        data: list[Any] | bytes,
        file_name: str = "app.jsonl",
        owner: str = OWNER,
        checkpoint_lines: int = 5_000,
    ) -> str:
        raw = data if isinstance(data, bytes) else jsonl(data)
        job = create_job(aws, raw, file_name, owner)
        service = ingest_service(ingest_checkpoint_lines=checkpoint_lines)
        assert service.run(owner, job.job_id, plenty) is IngestOutcome.COMPLETED
        assert JobStore().get(owner, job.job_id).status is JobStatus.COMPLETED
        return job.job_id

    return run


def ask_both(query: dict[str, Any], owner: str = OWNER) -> tuple[QueryAnswer, QueryAnswer]:
    """Answer a query from aggregates (where the planner can) and from the entries only."""
    body = QueryBody.model_validate(query)
    planned = QueryService().run(owner, body)
    reference = QueryService(use_aggregates=False).run(owner, body)
    assert reference.source == "entries"
    return planned, reference


@pytest.fixture
def ask(aws: Aws) -> Callable[..., QueryAnswer]:
    """`ask(query, source=...)`: the planned answer, checked equal to the entries' answer and
    (when given) to have come from `source`."""

    def run(query: dict[str, Any], source: str | None = None, owner: str = OWNER) -> QueryAnswer:
        planned, reference = ask_both(query, owner)
        assert planned.model_dump(exclude={"source"}) == reference.model_dump(exclude={"source"})
        if source is not None:
            assert planned.source == source
        return planned

    return run


def drop_compacted(aws: Aws, job_id: str, owner: str = OWNER) -> None:
    """Delete a job's compacted aggregate items, leaving queries to the segment chain."""
    for part in ("R", "E", "C", "A"):
        for chunk in range(16):
            aws.dynamodb.delete_item(
                TableName=get_settings().entries_table,
                Key={"pk": {"S": f"{owner}#{job_id}#AJ{part}"}, "line": {"N": str(chunk)}},
            )
