"""Jobs of the caller: list, one job, its entries and its invalid lines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from horizon.api.deps import Entries, Jobs, Owner
from horizon.api.models import EntryPage, InvalidLinePage, InvalidLinePublic, JobPage
from horizon.entries.store import decode_cursor, encode_cursor
from horizon.jobs import JobPublic

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the last page")]
PageLimit = Annotated[int, Query(ge=1, le=1000)]


@router.get("", response_model=JobPage)
def list_jobs(
    owner: Owner, jobs: Jobs, cursor: Cursor = None, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> JobPage:
    """The caller's jobs, a page at a time."""
    found, next_cursor = jobs.list(owner, limit=limit, cursor=cursor)
    return JobPage(items=[job.public() for job in found], next_cursor=next_cursor)


@router.get("/{job_id}", response_model=JobPublic)
def get_job(owner: Owner, jobs: Jobs, job_id: str) -> JobPublic:
    """A job's status (queued, processing, completed, failed), progress and counts."""
    return jobs.get(owner, job_id).public()


@router.get("/{job_id}/entries", response_model=EntryPage)
def list_entries(
    owner: Owner,
    jobs: Jobs,
    entries: Entries,
    job_id: str,
    cursor: Cursor = None,
    limit: PageLimit = 100,
) -> EntryPage:
    """The job's valid entries in line order. `line` is the entry's line number in the file
    (it takes precedence over an attribute of the same name)."""
    job = jobs.get(owner, job_id)
    found, after = entries.page_entries(
        owner, job_id, last_line=job.counts.lines, after=decode_cursor(cursor), limit=limit
    )
    items = [{**stored.entry, "line": stored.line} for stored in found]
    return EntryPage(items=items, next_cursor=encode_cursor(after))


@router.get("/{job_id}/errors", response_model=InvalidLinePage)
def list_errors(
    owner: Owner,
    jobs: Jobs,
    entries: Entries,
    job_id: str,
    cursor: Cursor = None,
    limit: PageLimit = 100,
) -> InvalidLinePage:
    """The job's invalid lines in line order, with the reason and the raw text."""
    job = jobs.get(owner, job_id)
    found, after = entries.page_invalid(
        owner, job_id, last_line=job.counts.lines, after=decode_cursor(cursor), limit=limit
    )
    items = [InvalidLinePublic(line=i.line, reason=i.reason, raw=i.raw) for i in found]
    return InvalidLinePage(items=items, next_cursor=encode_cursor(after))
