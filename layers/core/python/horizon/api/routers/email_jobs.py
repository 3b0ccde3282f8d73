"""Email jobs: registered nonprofits, `POST /send-email`, and the jobs' status and emails
(paths without /api/v1, as the requirements name them; ingest's jobs are /api/v1/jobs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from horizon.api.deps import IdempotencyKey, Owner
from horizon.api.openapi import error_responses
from horizon.email_jobs.models import (
    EmailPage,
    JobAccepted,
    JobPage,
    JobStatusPublic,
    Nonprofit,
    NonprofitCreate,
    NonprofitPage,
    NonprofitPatch,
    SendEmailBody,
)
from horizon.email_jobs.service import EmailJobService, NonprofitService
from horizon.email_jobs.store import EmailJobStore

router = APIRouter(tags=["email jobs"])


def nonprofit_service() -> NonprofitService:
    return NonprofitService()


def email_job_service() -> EmailJobService:
    return EmailJobService()


def email_job_store() -> EmailJobStore:
    return EmailJobStore()


Nonprofits = Annotated[NonprofitService, Depends(nonprofit_service)]
EmailJobs = Annotated[EmailJobService, Depends(email_job_service)]
EmailJobStoreDep = Annotated[EmailJobStore, Depends(email_job_store)]
Cursor = Annotated[str | None, Query(max_length=1024, description="next_cursor of the last page")]
PageLimit = Annotated[int, Query(ge=1, le=100)]
EmailPath = Annotated[str, Path(max_length=320, description="The nonprofit's address")]
JobId = Annotated[str, Path(max_length=64)]


_NOT_FOUND = error_responses(described={404: "No such item of the caller"})
_COMMON = error_responses(401, 422, 503)


@router.post(
    "/nonprofits",
    status_code=status.HTTP_201_CREATED,
    response_model=Nonprofit,
    responses={**_COMMON, **error_responses(described={409: "Already registered by the caller"})},
)
def create_nonprofit(owner: Owner, service: Nonprofits, body: NonprofitCreate) -> Nonprofit:
    """Register a nonprofit; its address is normalised (the domain lower-cased)."""
    return service.create(owner, body)


@router.get("/nonprofits", response_model=NonprofitPage, responses=_COMMON)
def list_nonprofits(
    owner: Owner,
    service: Nonprofits,
    domain: Annotated[
        str | None, Query(max_length=253, description="Only addresses @ this domain")
    ] = None,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> NonprofitPage:
    """The caller's nonprofits by domain then address, a page at a time."""
    found, next_cursor = service.page(owner, domain, limit, cursor)
    return NonprofitPage(nonprofits=found, next_cursor=next_cursor)


@router.get("/nonprofits/{email}", response_model=Nonprofit, responses={**_COMMON, **_NOT_FOUND})
def get_nonprofit(owner: Owner, service: Nonprofits, email: EmailPath) -> Nonprofit:
    return service.get(owner, email)


@router.patch("/nonprofits/{email}", response_model=Nonprofit, responses={**_COMMON, **_NOT_FOUND})
def update_nonprofit(
    owner: Owner, service: Nonprofits, email: EmailPath, body: NonprofitPatch
) -> Nonprofit:
    """Change a nonprofit's name and/or address (jobs already queued keep the old ones)."""
    return service.update(owner, email, body)


@router.delete(
    "/nonprofits/{email}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**_COMMON, **_NOT_FOUND},
)
def delete_nonprofit(owner: Owner, service: Nonprofits, email: EmailPath) -> Response:
    service.delete(owner, email)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/send-email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses={
        **_COMMON,
        **error_responses(
            described={
                404: "Recipients that are not the caller's nonprofits, named",
                409: "A request with this Idempotency-Key is still in progress",
                413: "Too many recipients or cc, or a template too large",
                429: "Over the per-minute limit; see Retry-After",
            }
        ),
    },
)
def send_email(
    owner: Owner,
    service: EmailJobs,
    body: SendEmailBody,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> JobAccepted:
    """Queue one templated email to each named nonprofit; answers at once with the job to poll.

    The template (and subject) may use `{name}`, `{address}` and `{email}`; `{{`/`}}` write
    braces. Every recipient must be a registered nonprofit of the caller, or nothing is queued.
    """
    usage = service.count_request(owner)
    response.headers.update(usage.headers())
    context = request.scope.get("aws.context")
    return service.submit(owner, body, idempotency_key, context)


@router.get("/jobs", response_model=JobPage, responses=_COMMON)
def list_email_jobs(
    owner: Owner, jobs: EmailJobStoreDep, limit: PageLimit = 50, cursor: Cursor = None
) -> JobPage:
    """The caller's email jobs, a page at a time (ordered by id)."""
    found, next_cursor = jobs.page(owner, limit, cursor)
    return JobPage(jobs=[JobStatusPublic.of(job) for job in found], next_cursor=next_cursor)


@router.get(
    "/jobs/{job_id}/status", response_model=JobStatusPublic, responses={**_COMMON, **_NOT_FOUND}
)
def email_job_status(owner: Owner, jobs: EmailJobStoreDep, job_id: JobId) -> JobStatusPublic:
    """An email job's status and counts: queued, processing, completed or failed."""
    return JobStatusPublic.of(jobs.get(owner, job_id))


@router.get("/jobs/{job_id}/emails", response_model=EmailPage, responses={**_COMMON, **_NOT_FOUND})
def email_job_emails(
    owner: Owner,
    jobs: EmailJobStoreDep,
    job_id: JobId,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> EmailPage:
    """Each recipient's email of the job (to, cc, subject, rendered body, status, message_id,
    sent_at), by address, a page at a time."""
    jobs.get(owner, job_id)  # 404 for another owner's job
    found, next_cursor = jobs.emails_page(owner, job_id, limit, cursor)
    return EmailPage(emails=found, next_cursor=next_cursor)
