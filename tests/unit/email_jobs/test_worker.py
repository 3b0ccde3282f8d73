"""The email worker on moto: SES failures per recipient, throttling, redelivery, the handler."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from functions.email_worker import handler as worker_handler
from horizon.clock import now_iso
from horizon.email_jobs.models import (
    DeliveryStatus,
    EmailJob,
    JobStatus,
    Recipient,
    SendMessage,
    SentEmail,
)
from horizon.email_jobs.store import EmailJobStore
from horizon.email_jobs.worker import STOPPED_MID_SEND, EmailWorker, RecipientsInFlightError
from tests.events import load_event

OWNER = "tenant-a"


class FakeSes:
    """SES that refuses some addresses, or throttles a number of calls first."""

    def __init__(self, refuse=(), throttle_first=0):
        self.refuse, self.throttles, self.sent = set(refuse), throttle_first, []

    def send_email(self, **request):
        to = request["Destination"]["ToAddresses"][0]
        if self.throttles > 0:
            self.throttles -= 1
            raise ClientError({"Error": {"Code": "Throttling", "Message": "rate"}}, "SendEmail")
        if to in self.refuse:
            raise ClientError({"Error": {"Code": "MessageRejected", "Message": "no"}}, "SendEmail")
        self.sent.append(request)
        return {"MessageId": f"id-{len(self.sent)}"}


def make_job(addresses, template="Hi {name}"):
    job = EmailJob(
        job_id="job-1",
        owner=OWNER,
        status=JobStatus.QUEUED,
        total_emails=len(addresses),
        template=template,
        subject="About {email}",
        cc=["cc@example.org"],
        created_at=now_iso(),
    )
    EmailJobStore().create(job)
    message = SendMessage(
        owner=OWNER,
        job_id=job.job_id,
        recipients=[Recipient(email=a, name=a.split("@")[0], address="1 St") for a in addresses],
    )
    return job, message.model_dump_json()


def test_one_refused_recipient_is_counted_and_the_others_sent(aws):
    _, body = make_job(["a@x.org", "b@x.org", "c@x.org"])
    ses = FakeSes(refuse={"b@x.org"})
    EmailWorker(ses=ses).handle(body)
    job = EmailJobStore().get(OWNER, "job-1")
    assert (job.status, job.sent, job.failed) == (JobStatus.COMPLETED, 2, 1)
    assert [r["Destination"]["CcAddresses"] for r in ses.sent] == [["cc@example.org"]] * 2
    assert ses.sent[0]["Message"]["Subject"]["Data"] == "About a@x.org"
    emails, _ = EmailJobStore().emails_page(OWNER, "job-1", 10, None)
    refused = next(e for e in emails if e.to == "b@x.org")
    assert refused.status == DeliveryStatus.FAILED and "MessageRejected" in refused.error


def test_throttling_is_retried_with_backoff(aws):
    _, body = make_job(["a@x.org"])
    pauses = []
    ses = FakeSes(throttle_first=2)
    EmailWorker(ses=ses, sleep=pauses.append).handle(body)
    assert len(ses.sent) == 1 and len(pauses) == 2
    assert EmailJobStore().get(OWNER, "job-1").sent == 1


def test_throttling_past_every_attempt_fails_the_recipient(aws, monkeypatch):
    monkeypatch.setenv("EMAIL_SEND_ATTEMPTS", "2")
    from horizon.email_jobs.settings import reset_email_settings

    reset_email_settings()
    _, body = make_job(["a@x.org"])
    EmailWorker(ses=FakeSes(throttle_first=5), sleep=lambda _: None).handle(body)
    job = EmailJobStore().get(OWNER, "job-1")
    assert (job.status, job.sent, job.failed, job.error) == (
        JobStatus.FAILED,
        0,
        1,
        "no email could be sent",
    )


def test_a_claim_held_by_another_delivery_is_retried_later_and_a_lapsed_one_failed(aws):
    _, body = make_job(["a@x.org", "b@x.org"])
    store = EmailJobStore()
    held = SentEmail(to="a@x.org", subject="s", body="b", status=DeliveryStatus.SENDING)
    assert store.claim(OWNER, "job-1", held, lease_s=300)
    ses = FakeSes()
    with pytest.raises(RecipientsInFlightError):
        EmailWorker(ses=ses).handle(body)
    assert [r["Destination"]["ToAddresses"] for r in ses.sent] == [["b@x.org"]]
    # The holder vanished: once its lease lapsed, the recipient is failed, never sent again.
    aws.dynamodb.update_item(
        TableName=aws.env["EMAIL_JOBS_TABLE"],
        Key={"pk": {"S": f"EMAILJOB#{OWNER}#job-1"}, "sk": {"S": "TO#a@x.org"}},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    EmailWorker(ses=ses).handle(body)
    job = store.get(OWNER, "job-1")
    assert (job.status, job.sent, job.failed) == (JobStatus.COMPLETED, 1, 1)
    assert len(ses.sent) == 1
    record = store.email_record(OWNER, "job-1", "a@x.org")
    assert record["error"] == STOPPED_MID_SEND


def test_the_handler_reports_only_the_failed_records(aws, lambda_context, monkeypatch):
    _, body = make_job(["a@x.org"])
    ses = FakeSes()
    monkeypatch.setattr(worker_handler, "get_worker", lambda: EmailWorker(ses=ses))
    event = load_event("local_sqs_event")
    good, malformed = (dict(event["Records"][0]) for _ in range(2))
    good["body"], good["messageId"] = body, "good"
    malformed["body"], malformed["messageId"] = "not json", "bad"
    event["Records"] = [good, malformed]
    answer = worker_handler.handler(event, lambda_context)
    assert answer == {"batchItemFailures": []}  # the malformed one is dropped, not looped
    assert len(ses.sent) == 1
    monkeypatch.setattr(
        worker_handler, "get_worker", lambda: EmailWorker(ses=ses, jobs=BrokenStore())
    )
    good["body"] = json.dumps({"owner": OWNER, "job_id": "job-1", "recipients": []})
    event["Records"] = [good]
    assert worker_handler.handler(event, lambda_context) == {
        "batchItemFailures": [{"itemIdentifier": "good"}]
    }


class BrokenStore:
    def get(self, owner, job_id):
        from horizon.errors import DependencyError

        raise DependencyError("DynamoDB is down")
