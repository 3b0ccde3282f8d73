"""The job record as stored, and the shape shown to callers."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


class JobCounts(BaseModel):
    """How far an ingest got: set absolutely at each checkpoint, never incremented blindly."""

    offset: int = Field(default=0, ge=0, description="Bytes of the file consumed so far")
    lines: int = Field(default=0, ge=0, description="Lines read so far (blank lines included)")
    valid: int = Field(default=0, ge=0)
    invalid: int = Field(default=0, ge=0)
    blank: int = Field(default=0, ge=0)


class Job(BaseModel):
    """A stored job item (jobs table, key `owner` + `job_id`)."""

    owner: str
    job_id: str
    kind: str = "ingest"
    file_name: str
    size_bytes: int = Field(ge=0)
    object_key: str
    status: JobStatus = JobStatus.QUEUED
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    counts: JobCounts = Field(default_factory=JobCounts)
    # Bumped on every progress change; WebSocket subscribers drop anything not newer.
    seq: int = 0
    lease_owner: str | None = None
    lease_expires_at: int | None = None

    @property
    def percent(self) -> int:
        """Progress as a whole percentage of the file's bytes, 100 once finished."""
        if self.status.finished:
            return 100
        if self.size_bytes <= 0:
            return 0
        return min(99, self.counts.offset * 100 // self.size_bytes)

    def public(self) -> JobPublic:
        return JobPublic(
            job_id=self.job_id,
            kind=self.kind,
            file_name=self.file_name,
            size_bytes=self.size_bytes,
            status=self.status,
            percent=self.percent,
            lines=self.counts.lines,
            valid=self.counts.valid,
            invalid=self.counts.invalid,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            error=self.error,
            seq=self.seq,
        )


class JobPublic(BaseModel):
    """A job as callers see it: no lease, no storage keys."""

    job_id: str
    kind: str
    file_name: str
    size_bytes: int
    status: JobStatus
    percent: int = Field(ge=0, le=100)
    lines: int
    valid: int
    invalid: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    seq: int
