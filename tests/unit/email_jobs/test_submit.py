"""`POST /send-email`'s queueing when SQS refuses part or all of a job's messages."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import EndpointConnectionError

from horizon.email_jobs.models import NonprofitCreate, SendEmailBody
from horizon.email_jobs.service import NOT_QUEUED, EmailJobService, NonprofitService
from horizon.email_jobs.settings import reset_email_settings
from horizon.email_jobs.store import EmailJobStore
from horizon.email_jobs.worker import EmailWorker
from horizon.errors import DependencyError
from tests.unit.email_jobs.test_worker import OWNER, FakeSes

ADDRESSES = [f"org{i}@example.org" for i in range(5)]


class RefusingSqs:
    """SQS that refuses, on every try, the messages naming `refused`; or is down altogether."""

    def __init__(self, sqs, refused: str | None = None, down: bool = False):
        self._sqs, self.refused, self.down, self.calls = sqs, refused, down, 0

    def send_message_batch(self, QueueUrl, Entries):
        self.calls += 1
        if self.down:
            raise EndpointConnectionError(endpoint_url=QueueUrl)
        refused = [e for e in Entries if self.refused and self.refused in e["MessageBody"]]
        taken = [e for e in Entries if e not in refused]
        answer = self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=taken) if taken else {}
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in refused]
        return {"Successful": answer.get("Successful", []), "Failed": failed}


@pytest.fixture
def two_per_message(aws, monkeypatch):
    monkeypatch.setenv("EMAIL_RECIPIENTS_PER_MESSAGE", "2")
    reset_email_settings()
    for address in ADDRESSES:
        NonprofitService().create(
            OWNER, NonprofitCreate(email=address, name=address[:4], address="1 St")
        )
    monkeypatch.setattr("horizon.sqs.backoff_s", lambda attempt: 0.0)
    yield
    reset_email_settings()


def _body() -> SendEmailBody:
    return SendEmailBody(emails=ADDRESSES, template="Hi {name}")


def _drain(aws) -> list[str]:
    url, ses = aws.provisioned.queue_urls["email"], FakeSes()
    while messages := aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            EmailWorker(ses=ses).handle(message["Body"])
            aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [request["Destination"]["ToAddresses"][0] for request in ses.sent]


def test_a_slice_sqs_will_not_take_is_counted_failed_and_the_rest_is_sent(aws, two_per_message):
    # Slices: [org0, org1], [org2, org3], [org4]; SQS keeps refusing the second.
    sqs = RefusingSqs(aws.sqs, refused="org2@")
    accepted = EmailJobService(sqs=sqs).submit(OWNER, _body(), None)
    assert "3 emails queued" in accepted.message
    assert "2 could not be queued" in accepted.message
    assert sqs.calls > 1  # the refused entry was tried again before giving up
    assert sorted(_drain(aws)) == ["org0@example.org", "org1@example.org", "org4@example.org"]
    store = EmailJobStore()
    job = store.get(OWNER, accepted.job_id)
    assert (job.status.value, job.sent, job.failed) == ("completed", 3, 2)
    for address in ("org2@example.org", "org3@example.org"):
        record = store.email_record(OWNER, accepted.job_id, address)
        assert (record["status"], record["error"]) == ("failed", NOT_QUEUED)


def test_when_nothing_can_be_queued_the_job_ends_failed_and_the_caller_gets_503(
    aws, two_per_message
):
    service = EmailJobService(sqs=RefusingSqs(aws.sqs, down=True))
    with pytest.raises(DependencyError, match="nothing was sent"):
        service.submit(OWNER, _body(), None)
    [job] = EmailJobStore().page(OWNER, 10, None)[0]
    assert (job.status.value, job.sent, job.failed) == ("failed", 0, 5)
    assert job.error == "no email could be sent"
    # Had SQS taken a message after all, its delivery would send nothing.
    slice_body = json.dumps(
        {
            "owner": OWNER,
            "job_id": job.job_id,
            "recipients": [{"email": ADDRESSES[0], "name": "org0", "address": "1 St"}],
        }
    )
    ses = FakeSes()
    EmailWorker(ses=ses).handle(slice_body)
    assert ses.sent == []
