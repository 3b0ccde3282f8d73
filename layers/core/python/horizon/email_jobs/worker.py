"""The email worker: renders and sends one queue message's recipients through SES.

Per recipient: claim (a conditional "sending" record, with the rendered subject and body),
send (SES `SendEmail`, throttling retried with backoff), settle (sent with the message id, or
failed with the reason, counted on the job in the same transaction). A redelivered message
finds its recipients claimed or settled and sends none of them again; a claim left "sending"
by a worker that stopped mid-send is settled failed after its lease (the email may or may not
have gone: it is never sent a second time). When every recipient is settled the job ends:
`completed`, or `failed` when nothing could be sent. A message the queue gave up on reaches the
DLQ consumer (`give_up`): its recipients without a record are recorded failed, never sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

from horizon import wiring
from horizon.clock import epoch_s
from horizon.dynamo import AWS_ERRORS, backoff_s, error_code
from horizon.email_jobs import template
from horizon.email_jobs.models import (
    DeliveryStatus,
    EmailJob,
    JobStatus,
    Recipient,
    SentEmail,
)
from horizon.email_jobs.service import parse_message
from horizon.email_jobs.settings import EmailSettings, get_email_settings
from horizon.email_jobs.store import EmailJobStore
from horizon.errors import HorizonError, NotFoundError
from horizon.lazy import Collaborator, aws_client
from horizon.metrics import count
from horizon.metrics import names as metric_names

logger = logging.getLogger(__name__)

# SES's answers worth another try after a pause (its sending rate, a passing outage).
RETRYABLE_CODES = {"Throttling", "ThrottlingException", "ServiceUnavailable", "TooManyRequests"}
STOPPED_MID_SEND = (
    "the worker stopped while sending; delivery is unknown and it is not retried, "
    "so the email cannot arrive twice"
)


def dead_letter_reason() -> str:
    """Why the recipients of a dead-lettered message ended unsent."""
    deliveries = wiring.queue("email").max_receive_count
    return (
        f"not sent: the email queue gave up after {deliveries} deliveries of its message "
        "failed (the worker could not process it; see its logs)"
    )


class Outcome(StrEnum):
    """What handling one queue message did."""

    DONE = "done"
    UNKNOWN_JOB = "unknown_job"  # the job is gone (expired): nothing to send
    MALFORMED = "malformed"


class RecipientsInFlightError(HorizonError):
    """Some recipients are claimed by another delivery still within its lease: retry later."""


class ProgressPublisher(Protocol):
    """Where job progress goes (`horizon.realtime.EmailJobProgressPublisher`)."""

    def publish(self, job: EmailJob) -> None: ...


class _NoProgress:
    def publish(self, job: EmailJob) -> None:
        return None


class EmailWorker:
    """Sends the recipients of email-queue messages.

    Args:
        jobs: the email-jobs table; the shared one when omitted.
        ses: an SES client; the shared one when omitted.
        settings: the email settings; the process's when omitted.
        publisher: told the job after each message (progress for subscribers).
        sleep: how to wait between throttled sends (tests pass a fake).
    """

    jobs = Collaborator(EmailJobStore)
    ses = aws_client("ses")
    settings = Collaborator(get_email_settings)

    def __init__(
        self,
        jobs: EmailJobStore | None = None,
        ses: Any = None,
        settings: EmailSettings | None = None,
        publisher: ProgressPublisher | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._jobs, self._ses, self._settings = jobs, ses, settings
        self._publisher: ProgressPublisher = publisher or _NoProgress()
        self._sleep = sleep

    def handle(self, body: str) -> Outcome:
        """Send the recipients of one queue message body.

        Raises:
            RecipientsInFlightError: another delivery holds some recipients (retry later).
            DependencyError: DynamoDB failed (retry the message).
        """
        return self._handle(body, self._deliver)

    def give_up(self, body: str, reason: str) -> Outcome:
        """End the recipients of a message the email queue gave up on, sending none of them.

        A recipient without a record is recorded failed with `reason`; one left "sending" past
        its lease is failed as stopped mid-send; settled ones stay as they are. The job then
        ends like any other once every recipient is settled.

        Raises:
            RecipientsInFlightError: a delivery still holds some recipients (retry later).
            DependencyError: DynamoDB failed (retry the message).
        """

        def record_unsent(job: EmailJob, recipient: Recipient, email: SentEmail) -> bool:
            if self.jobs.fail_unsent(job.owner, job.job_id, [email], reason):
                logger.warning("the email to %s of job %s ended unsent", email.to, job.job_id)
                return True
            record = self.jobs.email_record(job.owner, job.job_id, recipient.email) or {}
            return self._settle_held(job, recipient, record)

        return self._handle(body, record_unsent)

    def _handle(self, body: str, act: Callable[[EmailJob, Recipient, SentEmail], bool]) -> Outcome:
        """Render each recipient's email of the message and `act` on it, then end the job
        if every recipient is settled; `act` returns False for a recipient another delivery
        holds."""
        message = parse_message(body)
        if message is None:
            logger.error("dropping a malformed email message: %.200r", body)
            return Outcome.MALFORMED
        try:
            job = self.jobs.get(message.owner, message.job_id)
        except NotFoundError:
            logger.warning("email job %s is gone; dropping its message", message.job_id)
            return Outcome.UNKNOWN_JOB
        self.jobs.move(job.owner, job.job_id, JobStatus.PROCESSING, (JobStatus.QUEUED,))
        in_flight = 0
        emails = template.emails_for(job, message.recipients, DeliveryStatus.SENDING)
        for recipient, email in zip(message.recipients, emails, strict=True):
            if not act(job, recipient, email):
                in_flight += 1
        self._publisher.publish(self.jobs.end_if_settled(job.owner, job.job_id))
        if in_flight:
            raise RecipientsInFlightError(
                f"{in_flight} recipients of job {job.job_id} are being sent by another delivery"
            )
        return Outcome.DONE

    def _settle_held(self, job: EmailJob, recipient: Recipient, record: dict[str, Any]) -> bool:
        """A recipient with a record: settled already, held within its lease (False), or left
        "sending" by a delivery that stopped mid-send (settled failed now)."""
        if record.get("status") != DeliveryStatus.SENDING.value:
            return True  # settled and counted by an earlier delivery
        if int(record.get("lease_until", 0)) >= epoch_s():
            return False
        self.jobs.settle(
            job.owner, job.job_id, recipient.email, DeliveryStatus.FAILED, error=STOPPED_MID_SEND
        )
        return True

    def _deliver(self, job: EmailJob, recipient: Recipient, email: SentEmail) -> bool:
        """Claim, send and settle one recipient. Returns False when another delivery holds it."""
        if not self.jobs.claim(job.owner, job.job_id, email, self.settings.sending_lease_s):
            record = self.jobs.email_record(job.owner, job.job_id, recipient.email) or {}
            return self._settle_held(job, recipient, record)
        message_id, error = self._send(email)
        if message_id is not None:
            self.jobs.settle(
                job.owner, job.job_id, recipient.email, DeliveryStatus.SENT, message_id=message_id
            )
            count(metric_names.EMAILS_SENT)
        else:
            self.jobs.settle(
                job.owner, job.job_id, recipient.email, DeliveryStatus.FAILED, error=error
            )
        return True

    def _send(self, email: SentEmail) -> tuple[str | None, str | None]:
        """Send through SES. Returns (message id, None) or (None, the reason it failed)."""
        request: dict[str, Any] = {
            "Source": self.settings.sender,
            "Destination": {"ToAddresses": [email.to], "CcAddresses": email.cc},
            "Message": {
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": email.body, "Charset": "UTF-8"}},
            },
        }
        if self.settings.configuration_set:
            request["ConfigurationSetName"] = self.settings.configuration_set
        code = ""
        for attempt in range(self.settings.send_attempts):
            try:
                return str(self.ses.send_email(**request)["MessageId"]), None
            except AWS_ERRORS as error:
                code = error_code(error) or type(error).__name__
                if code not in RETRYABLE_CODES:
                    logger.warning("SES refused the email to %s: %s", email.to, code)
                    return None, f"SES refused the email ({code})"
            if attempt + 1 < self.settings.send_attempts:
                self._sleep(backoff_s(attempt + 3))
        return (
            None,
            f"SES kept refusing the email ({code}) after {self.settings.send_attempts} tries",
        )
