"""Nonprofits and `POST /send-email` for the API: validate everything, then queue the job.

A job is stored `queued` with its template, subject and cc, then announced on the email queue
in messages of at most `recipients_per_message` recipients, each carrying the recipients'
fields as registered at submission. Nothing is stored or queued until every check passed.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson

from horizon.clock import now_iso
from horizon.email_jobs import addresses, template
from horizon.email_jobs.models import (
    DeliveryStatus,
    EmailJob,
    JobAccepted,
    JobStatus,
    Nonprofit,
    NonprofitCreate,
    NonprofitPatch,
    Recipient,
    SendEmailBody,
    SendMessage,
)
from horizon.email_jobs.settings import EmailSettings, get_email_settings
from horizon.email_jobs.store import EmailJobStore, NonprofitStore
from horizon.errors import (
    DependencyError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
)
from horizon.idempotency import run_once
from horizon.lazy import Collaborator, aws_client
from horizon.ratelimit import Limit, RateLimiter, Usage
from horizon.sqs import send_messages

logger = logging.getLogger(__name__)

DEFAULT_SUBJECT = "A message for {name}"
NOT_QUEUED = "not sent: the email queue would not take its message"
# The most unknown addresses a 404 names (the rest are counted).
MAX_NAMED_UNKNOWN = 20


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class NonprofitService:
    """Registers, reads, changes and removes an owner's nonprofits."""

    store = Collaborator(NonprofitStore)

    def __init__(self, store: NonprofitStore | None = None) -> None:
        self._store = store

    def create(self, owner: str, body: NonprofitCreate) -> Nonprofit:
        """Raises: InvalidRequestError (422), ConflictError: already registered (409)."""
        email = addresses.normalize(body.email)
        _utf8_size("name", body.name)
        _utf8_size("address", body.address)
        return self.store.create(owner, email, body.name.strip(), body.address.strip())

    def get(self, owner: str, email: str) -> Nonprofit:
        return self.store.get(owner, self._known_form(email))

    def update(self, owner: str, email: str, patch: NonprofitPatch) -> Nonprofit:
        changes = {k: v.strip() for k, v in patch.model_dump(exclude_none=True).items()}
        for name, value in changes.items():
            _utf8_size(name, value)
        if not changes:
            raise InvalidRequestError("nothing to change: give name and/or address")
        return self.store.update(owner, self._known_form(email), changes)

    def delete(self, owner: str, email: str) -> None:
        self.store.delete(owner, self._known_form(email))

    def page(
        self, owner: str, domain: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Nonprofit], str | None]:
        if domain is not None:
            domain = domain.strip().lower()
            if not domain or not addresses.is_domain(domain):
                raise InvalidRequestError(f"{domain!r} is not a domain")
        return self.store.page(owner, domain, limit, cursor)

    @staticmethod
    def _known_form(email: str) -> str:
        # An address that cannot be valid cannot be registered: the same 404 as an unknown one.
        try:
            return addresses.normalize(email)
        except InvalidRequestError as error:
            raise NotFoundError(f"nonprofit {email[:320]} not found") from error


class EmailJobService:
    """Validates and queues email jobs; reads them back for their owner."""

    nonprofits = Collaborator(NonprofitStore)
    jobs = Collaborator(EmailJobStore)
    limiter = Collaborator(RateLimiter)
    sqs = aws_client("sqs")
    settings = Collaborator(get_email_settings)

    def __init__(
        self,
        nonprofits: NonprofitStore | None = None,
        jobs: EmailJobStore | None = None,
        limiter: RateLimiter | None = None,
        sqs: Any = None,
        settings: EmailSettings | None = None,
    ) -> None:
        self._nonprofits, self._jobs, self._limiter = nonprofits, jobs, limiter
        self._sqs, self._settings = sqs, settings

    def count_request(self, owner: str) -> Usage:
        """Count one `POST /send-email` of `owner` against the per-minute limit.

        Raises:
            LimitExceededError: over the limit (429 with Retry-After).
        """
        limit = Limit("send-email per minute", self.settings.rate_limit_per_minute, 60)
        return self.limiter.hit(f"{owner}#send-email", [limit])

    def submit(
        self, owner: str, body: SendEmailBody, key: str | None, lambda_context: Any = None
    ) -> JobAccepted:
        """Validate the request, then store and queue its job (once per Idempotency-Key).

        Raises:
            PayloadTooLargeError: too many recipients or cc, or a template too large (413).
            InvalidRequestError: a malformed address, template or subject (422).
            NotFoundError: recipients that are not the owner's nonprofits, named (404).
            ConflictError / InvalidRequestError: Idempotency-Key in progress / reused (409/422).
            DependencyError: DynamoDB or SQS failed (503).
        """
        payload = body.model_dump(mode="json")
        answer = run_once(
            "send-email",
            owner,
            key,
            payload,
            lambda: self._submit(owner, body).model_dump(mode="json"),
            lambda_context,
        )
        return JobAccepted.model_validate(answer)

    def _submit(self, owner: str, body: SendEmailBody) -> JobAccepted:
        settings = self.settings
        if len(body.emails) > settings.max_recipients:
            raise PayloadTooLargeError(
                f"{len(body.emails)} recipients; a job sends to at most {settings.max_recipients}"
            )
        if len(body.cc) > settings.max_cc:
            raise PayloadTooLargeError(
                f"{len(body.cc)} cc addresses; the limit is {settings.max_cc}"
            )
        size = _utf8_size("template", body.template)
        if size > settings.max_template_bytes:
            raise PayloadTooLargeError(
                f"template is {size} bytes; the limit is {settings.max_template_bytes}"
            )
        subject = DEFAULT_SUBJECT if body.subject is None else body.subject
        _utf8_size("subject", subject)
        if not subject.strip() or len(subject) > settings.max_subject_chars or "\n" in subject:
            raise InvalidRequestError(
                f"subject must be 1 to {settings.max_subject_chars} characters on one line"
            )
        template.parse(body.template, "template")
        template.parse(subject, "subject")
        emails = _unique([addresses.normalize(email) for email in body.emails])
        cc = _unique([addresses.normalize(email) for email in body.cc])
        found = self.nonprofits.get_many(owner, emails)
        unknown = [email for email in emails if email not in found]
        if unknown:
            named = ", ".join(unknown[:MAX_NAMED_UNKNOWN])
            more = len(unknown) - MAX_NAMED_UNKNOWN
            raise NotFoundError(
                f"not registered nonprofits: {named}" + (f" and {more} more" if more > 0 else "")
            )
        job = EmailJob(
            job_id=str(uuid.uuid4()),
            owner=owner,
            status=JobStatus.QUEUED,
            total_emails=len(emails),
            template=body.template,
            subject=subject,
            cc=cc,
            created_at=now_iso(),
        )
        self.jobs.create(job)
        recipients = [
            Recipient(email=n.email, name=n.name, address=n.address)
            for n in (found[email] for email in emails)
        ]
        unqueued = self._enqueue(owner, job, recipients)
        queued = job.total_emails - unqueued
        if queued == 0:
            raise DependencyError(
                f"the emails could not be queued; job {job.job_id} ended failed, nothing was sent"
            )
        message = f"{queued} emails queued; poll /jobs/{job.job_id}/status"
        if unqueued:
            message += f" ({unqueued} could not be queued: they are counted failed, never sent)"
        return JobAccepted(
            job_id=job.job_id,
            status=JobStatus.QUEUED,
            total_emails=job.total_emails,
            message=message,
        )

    def _enqueue(self, owner: str, job: EmailJob, recipients: list[Recipient]) -> int:
        """Queue the job's recipients in slices; return how many could not be queued.

        The recipients of a slice SQS would not take are recorded failed (so that a message
        SQS took after all sends nothing) and the job ends once every recipient is settled.
        """
        size = self.settings.recipients_per_message
        slices = [recipients[i : i + size] for i in range(0, len(recipients), size)]
        bodies = [
            SendMessage(owner=owner, job_id=job.job_id, recipients=part).model_dump_json()
            for part in slices
        ]
        unsent = send_messages(self.sqs, self.settings.email_queue_url, bodies)
        if not unsent:
            return 0
        logger.error("%d messages of email job %s could not be queued", len(unsent), job.job_id)
        unqueued = [recipient for index in unsent for recipient in slices[index]]
        emails = template.emails_for(job, unqueued, DeliveryStatus.FAILED)
        self.jobs.fail_unsent(owner, job.job_id, emails, NOT_QUEUED)
        self.jobs.end_if_settled(owner, job.job_id)
        return len(emails)


def _utf8_size(name: str, text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as error:  # a lone surrogate from a JSON \ud800 escape
        raise InvalidRequestError(f"{name} is not valid Unicode text") from error


def parse_message(body: str) -> SendMessage | None:
    """Return the email-queue message in `body`, or None when it is not one."""
    try:
        return SendMessage.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValueError):
        return None
