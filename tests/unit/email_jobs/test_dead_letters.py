"""What ends the recipients no delivery will send: the email DLQ consumer and `fail_unsent`."""

from __future__ import annotations

import pytest

from functions.email_failures import handler as failures_handler
from horizon import wiring
from horizon.email_jobs.models import DeliveryStatus, JobStatus, SentEmail
from horizon.email_jobs.store import TRANSACT_MAX, EmailJobStore
from horizon.email_jobs.worker import (
    STOPPED_MID_SEND,
    EmailWorker,
    RecipientsInFlightError,
    dead_letter_reason,
)
from tests.events import load_event
from tests.unit.email_jobs.test_worker import OWNER, FakeSes, make_job


def _email(address: str, status: DeliveryStatus = DeliveryStatus.SENDING) -> SentEmail:
    return SentEmail(to=address, subject="s", body="b", status=status)


def _lapse(aws, address: str) -> None:
    aws.dynamodb.update_item(
        TableName=aws.env["EMAIL_JOBS_TABLE"],
        Key={"pk": {"S": f"EMAILJOB#{OWNER}#job-1"}, "sk": {"S": f"TO#{address}"}},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )


def test_a_dead_lettered_slice_ends_its_unsent_recipients_and_the_job(aws):
    _, body = make_job(["a@x.org", "b@x.org", "c@x.org", "d@x.org"])
    store = EmailJobStore()
    # An earlier delivery sent a@, failed b@, and stopped while sending c@; d@ was never reached.
    for address in ("a@x.org", "b@x.org", "c@x.org"):
        assert store.claim(OWNER, "job-1", _email(address), lease_s=300)
    store.settle(OWNER, "job-1", "a@x.org", DeliveryStatus.SENT, message_id="m-1")
    store.settle(OWNER, "job-1", "b@x.org", DeliveryStatus.FAILED, error="SES refused")
    _lapse(aws, "c@x.org")
    ses = FakeSes()
    reason = dead_letter_reason()
    assert EmailWorker(ses=ses).give_up(body, reason).value == "done"
    assert ses.sent == []  # the consumer never sends
    job = store.get(OWNER, "job-1")
    assert (job.status, job.sent, job.failed, job.done) == (JobStatus.COMPLETED, 1, 3, 4)
    assert store.email_record(OWNER, "job-1", "c@x.org")["error"] == STOPPED_MID_SEND
    unsent = store.email_record(OWNER, "job-1", "d@x.org")
    assert unsent["status"] == "failed" and unsent["error"] == reason
    assert unsent["body"] == "Hi d"  # what would have gone, for the sender to see
    assert f"after {wiring.EMAIL_QUEUE.max_receive_count} deliveries" in reason
    # Handled twice (the DLQ redelivers too): nothing changes, nothing is counted again.
    EmailWorker(ses=ses).give_up(body, reason)
    again = store.get(OWNER, "job-1")
    assert (again.sent, again.failed, again.done) == (1, 3, 4)


def test_a_job_nothing_of_which_was_sent_ends_failed(aws):
    _, body = make_job(["a@x.org", "b@x.org"])
    EmailWorker(ses=FakeSes()).give_up(body, "gave up")
    job = EmailJobStore().get(OWNER, "job-1")
    assert (job.status, job.failed, job.error) == (JobStatus.FAILED, 2, "no email could be sent")


def test_a_recipient_a_delivery_still_holds_is_left_to_it(aws):
    _, body = make_job(["a@x.org", "b@x.org"])
    store = EmailJobStore()
    assert store.claim(OWNER, "job-1", _email("a@x.org"), lease_s=300)
    with pytest.raises(RecipientsInFlightError):
        EmailWorker(ses=FakeSes()).give_up(body, "gave up")
    job = store.get(OWNER, "job-1")
    assert (job.status, job.failed, job.done) == (JobStatus.PROCESSING, 1, 1)
    assert store.email_record(OWNER, "job-1", "a@x.org")["status"] == "sending"
    # The holder settles it; the DLQ's next delivery of the message then ends the job.
    store.settle(OWNER, "job-1", "a@x.org", DeliveryStatus.SENT, message_id="m-1")
    EmailWorker(ses=FakeSes()).give_up(body, "gave up")
    assert store.get(OWNER, "job-1").status == JobStatus.COMPLETED


def test_a_late_delivery_of_a_recipient_recorded_unsent_sends_nothing(aws):
    _, body = make_job(["a@x.org"])
    EmailWorker(ses=FakeSes()).give_up(body, "gave up")
    ses = FakeSes()
    EmailWorker(ses=ses).handle(body)
    assert ses.sent == []
    job = EmailJobStore().get(OWNER, "job-1")
    assert (job.sent, job.failed, job.done) == (0, 1, 1)


def test_fail_unsent_counts_each_recipient_once_across_transactions(aws):
    addresses = [f"r{i}@x.org" for i in range(TRANSACT_MAX + 20)]
    make_job(addresses)
    store = EmailJobStore()
    # Two of them, one in each transaction's group, were claimed by a delivery meanwhile.
    for address in (addresses[5], addresses[TRANSACT_MAX + 3]):
        assert store.claim(OWNER, "job-1", _email(address), lease_s=300)
    emails = [_email(a, DeliveryStatus.FAILED) for a in addresses]
    assert store.fail_unsent(OWNER, "job-1", emails, "not queued") == len(addresses) - 2
    assert store.fail_unsent(OWNER, "job-1", emails, "not queued") == 0
    job = store.get(OWNER, "job-1")
    assert (job.failed, job.done) == (len(addresses) - 2, len(addresses) - 2)
    assert store.email_record(OWNER, "job-1", addresses[5])["status"] == "sending"


def test_the_handler_reports_only_records_to_retry(aws, lambda_context, monkeypatch):
    _, body = make_job(["a@x.org"])
    EmailJobStore().claim(OWNER, "job-1", _email("a@x.org"), lease_s=300)
    monkeypatch.setattr(failures_handler, "get_worker", lambda: EmailWorker(ses=FakeSes()))
    event = load_event("local_sqs_event")
    held, malformed = (dict(event["Records"][0]) for _ in range(2))
    held["body"], held["messageId"] = body, "held"
    malformed["body"], malformed["messageId"] = "not json", "bad"
    event["Records"] = [held, malformed]
    assert failures_handler.handler(event, lambda_context) == {
        "batchItemFailures": [{"itemIdentifier": "held"}]
    }
