"""Request and response bodies of the REST API (never stored items as they are)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from horizon.jobs import JobPublic, JobStatus


class JobLinks(BaseModel):
    self: str
    entries: str
    errors: str


def job_links(job_id: str) -> JobLinks:
    base = f"/api/v1/jobs/{job_id}"
    return JobLinks(self=base, entries=f"{base}/entries", errors=f"{base}/errors")


class UploadAccepted(BaseModel):
    job_id: str
    status: JobStatus
    file_name: str
    size_bytes: int
    links: JobLinks


def unicode_text(value: str) -> str:
    """Refuse a lone surrogate (a JSON `\\ud800` escape): it cannot be stored as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"not valid Unicode text (character {error.start})") from error
    return value


class PresignCreate(BaseModel):
    file_name: Annotated[str, AfterValidator(unicode_text)] = Field(min_length=1, max_length=1024)
    size_bytes: int | None = Field(default=None, description="Declared size; S3 enforces limits")
    content_type: str | None = Field(default=None, max_length=255)


class PresignedPost(BaseModel):
    url: str
    fields: dict[str, str]
    method: str = "POST"
    expires_in: int


class PresignCreated(BaseModel):
    job_id: str
    status: JobStatus
    file_name: str
    upload: PresignedPost
    links: JobLinks


class JobPage(BaseModel):
    items: list[JobPublic]
    next_cursor: str | None


class EntryPage(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="Each entry's fields plus `line`, its line number in the file"
    )
    next_cursor: str | None


class InvalidLinePublic(BaseModel):
    line: int
    reason: str
    raw: str


class InvalidLinePage(BaseModel):
    items: list[InvalidLinePublic]
    next_cursor: str | None


class Liveness(BaseModel):
    """`GET /health`: the function runs and answers; no dependency is called."""

    status: Literal["ok"] = "ok"


class DependencyCheck(BaseModel):
    status: Literal["ok", "error", "timeout"]
    latency_ms: float = Field(
        ge=0, description="How long the check took (the deadline if it timed out)"
    )
    error: str | None = Field(default=None, description="Why it failed (an AWS error code)")


class Readiness(BaseModel):
    """`GET /health/ready`: every table, bucket and queue the API uses, checked at once."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, DependencyCheck] = Field(
        description="`dynamodb:<table>`, `s3:<bucket>`, `sqs:<queue>` (resource keys) → result"
    )
    detail: str | None = Field(default=None, description="The failing checks (503 only)")
