"""Analytics queries over the caller's jobs: `POST /api/v1/query`, `POST /api/v1/jobs/{id}/query`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from horizon.analytics import QueryAnswer, QueryBody, QueryService
from horizon.api.deps import Owner
from horizon.api.openapi import error_responses

router = APIRouter(prefix="/api/v1", tags=["analytics"])


def query_service() -> QueryService:
    return QueryService()


Queries = Annotated[QueryService, Depends(query_service)]

_DOC = """Exact metrics (count, sum, avg, min, max, p50, p95, p99) over the jobs' entries,
with filters (equality, gt/gte/lt/lte/ne/in, a `timestamp` range with `to` exclusive),
clock-aligned or sliding windows with the top N, or counts after anchor events in other jobs
(`relative_to`). `source` says whether ingest-time aggregates or the entries answered."""


# A job of `job_ids` (or of `relative_to`) that is not the caller's.
_NOT_FOUND = error_responses(described={404: "A job named in the query is not the caller's"})


@router.post("/query", response_model=QueryAnswer, description=_DOC, responses=_NOT_FOUND)
def query(owner: Owner, service: Queries, body: QueryBody) -> QueryAnswer:
    """Answer a question about the logs of the jobs in `job_ids`."""
    return service.run(owner, body)


@router.post("/jobs/{job_id}/query", response_model=QueryAnswer, description=_DOC)
def query_job(owner: Owner, service: Queries, job_id: str, body: QueryBody) -> QueryAnswer:
    """Answer a question about one job's logs (`job_ids` omitted)."""
    return service.run(owner, body, job_id=job_id)
