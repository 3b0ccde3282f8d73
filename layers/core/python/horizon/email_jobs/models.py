"""Nonprofits, email jobs and sent messages: the API's bodies and the stored shapes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The same lifecycle as an ingest job's (queued → processing → completed | failed).
from horizon.jobs.models import JobStatus

MAX_NAME_CHARS = 200
MAX_ADDRESS_CHARS = 500


class NonprofitCreate(BaseModel):
    """`POST /nonprofits`."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, description="Normalised: the domain is lower-cased")
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    address: str = Field(min_length=1, max_length=MAX_ADDRESS_CHARS)


class NonprofitPatch(BaseModel):
    """`PATCH /nonprofits/{email}`: the fields to change (the email is the identity)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)
    address: str | None = Field(default=None, min_length=1, max_length=MAX_ADDRESS_CHARS)


class Nonprofit(BaseModel):
    """A registered nonprofit as returned."""

    email: str
    name: str
    address: str
    created_at: str

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Nonprofit:
        return cls.model_validate({k: v for k, v in item.items() if k in cls.model_fields})


class NonprofitPage(BaseModel):
    nonprofits: list[Nonprofit]
    next_cursor: str | None = None


class SendEmailBody(BaseModel):
    """`POST /send-email`: one templated email to each registered nonprofit named."""

    model_config = ConfigDict(extra="forbid")

    emails: list[str] = Field(min_length=1, description="Registered nonprofits' addresses")
    template: str = Field(
        min_length=1, description="The body; may use {name}, {address} and {email} only"
    )
    cc: list[str] = Field(default_factory=list, description="Copied on every email")
    subject: str | None = Field(
        default=None, description="May use the same placeholders; a default when omitted"
    )


class JobAccepted(BaseModel):
    """The answer of `POST /send-email`: poll `GET /jobs/{job_id}/status`."""

    job_id: str
    status: JobStatus
    total_emails: int
    message: str


class EmailJob(BaseModel):
    """An email job as stored (the template, subject and cc stay with it for the worker)."""

    job_id: str
    owner: str
    status: JobStatus
    total_emails: int
    sent: int = 0
    failed: int = 0
    done: int = 0
    template: str
    subject: str
    cc: list[str] = Field(default_factory=list)
    created_at: str
    completed_at: str | None = None
    error: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> EmailJob:
        return cls.model_validate({k: v for k, v in item.items() if k in cls.model_fields})


class JobStatusPublic(BaseModel):
    """`GET /jobs/{job_id}/status`."""

    job_id: str
    status: JobStatus
    total_emails: int
    sent: int
    failed: int
    created_at: str
    completed_at: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, job: EmailJob) -> JobStatusPublic:
        return cls.model_validate(job.model_dump(include=set(cls.model_fields)))


class JobPage(BaseModel):
    jobs: list[JobStatusPublic]
    next_cursor: str | None = None


class DeliveryStatus(StrEnum):
    SENDING = "sending"  # claimed by a worker, SES not yet known to have it
    SENT = "sent"
    FAILED = "failed"


class SentEmail(BaseModel):
    """One recipient's email of a job: what was (or was to be) sent, and how it went."""

    to: str
    cc: list[str] = Field(default_factory=list)
    subject: str
    body: str
    status: DeliveryStatus
    message_id: str | None = None
    sent_at: str | None = None
    error: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> SentEmail:
        return cls.model_validate({k: v for k, v in item.items() if k in cls.model_fields})


class EmailPage(BaseModel):
    emails: list[SentEmail]
    next_cursor: str | None = None


class Recipient(BaseModel):
    """A recipient as a queue message carries it: the nonprofit's fields at submission."""

    email: str
    name: str
    address: str

    def values(self) -> dict[str, str]:
        return {"email": self.email, "name": self.name, "address": self.address}


class SendMessage(BaseModel):
    """One email-queue message: a bounded slice of a job's recipients."""

    owner: str
    job_id: str
    recipients: list[Recipient]
