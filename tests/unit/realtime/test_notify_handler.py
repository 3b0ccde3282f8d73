"""The notify function: snapshots for new subscribers, with retry while $connect completes."""

import json
import time

from functions.notify.handler import handler
from tests.events import load_event
from tests.unit.realtime.conftest import age_connection, connection_items, make_job, sent_to


def _queued_event(aws, body):
    """An SQS event carrying a real message of the notify queue (so its receipt handle works)."""
    url = aws.provisioned.queue_urls["notify"]
    aws.sqs.send_message(
        QueueUrl=url, MessageBody=body if isinstance(body, str) else json.dumps(body)
    )
    message = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    event = load_event("notify_snapshot")
    record = event["Records"][0]
    record.update(
        messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"]
    )
    return event


def _snapshot(job_id, connection_id="conn-1", owner="local"):
    return {"type": "snapshot", "connection_id": connection_id, "owner": owner, "job_id": job_id}


def test_sample_event_is_handled(aws, connections, lambda_context):
    event = load_event("notify_snapshot")
    body = json.loads(event["Records"][0]["body"])
    make_job(job_id=body["job_id"])
    connections.put_connection(body["connection_id"], "local")

    assert handler(event, lambda_context) == {"batchItemFailures": []}
    [message] = sent_to(body["connection_id"])
    assert message["type"] == "progress"
    assert message["job_id"] == body["job_id"]


def test_unknown_job_sends_not_found(aws, connections, lambda_context):
    event = _queued_event(aws, _snapshot("3f2b8c1e-0000-0000-0000-000000000000"))

    assert handler(event, lambda_context) == {"batchItemFailures": []}
    assert sent_to("conn-1") == [
        {
            "type": "error",
            "code": "not_found",
            "message": "job 3f2b8c1e-0000-0000-0000-000000000000 not found",
        }
    ]


def test_the_snapshot_carries_the_subscribe_requests_correlation_id(
    aws, connections, lambda_context
):
    job = make_job()
    connections.put_connection("conn-1", "local")
    event = _queued_event(aws, _snapshot(job.job_id))
    event["Records"][0]["messageAttributes"] = {
        "correlation_id": {"stringValue": "req-42", "dataType": "String"}
    }

    handler(event, lambda_context)

    [message] = sent_to("conn-1")
    assert message["type"] == "progress"
    assert message["correlation_id"] == "req-42"


def test_owner_scoped(aws, connections, lambda_context):
    job = make_job(owner="someone-else")
    event = _queued_event(aws, _snapshot(job.job_id))

    handler(event, lambda_context)

    assert sent_to("conn-1")[0]["code"] == "not_found"


def test_not_yet_open_connection_is_retried_in_a_second(aws, connections, lambda_context, gone):
    job = make_job()
    connections.put_connection("conn-1", "local")
    gone({"conn-1"})
    event = _queued_event(aws, _snapshot(job.job_id))

    response = handler(event, lambda_context)

    message_id = event["Records"][0]["messageId"]
    assert response == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert connections.get_connection("conn-1") is not None
    url = aws.provisioned.queue_urls["notify"]
    time.sleep(1.2)  # the queue's own visibility timeout is a minute; the retry comes in 1 s
    again = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
    assert [m["MessageId"] for m in again] == [message_id]


def test_gone_old_connection_is_dropped_and_cleaned_up(aws, connections, lambda_context, gone):
    job = make_job()
    connection = connections.put_connection("conn-1", "local")
    connections.subscribe_job(connection, job.job_id)
    age_connection(aws, "conn-1", 60)
    gone({"conn-1"})

    assert handler(_queued_event(aws, _snapshot(job.job_id)), lambda_context) == {
        "batchItemFailures": []
    }
    assert connection_items(aws, "conn-1") == []


def test_gone_without_record_is_dropped(aws, connections, lambda_context, gone):
    job = make_job()
    gone({"conn-1"})

    assert handler(_queued_event(aws, _snapshot(job.job_id)), lambda_context) == {
        "batchItemFailures": []
    }


def test_malformed_messages_are_dropped_not_retried(aws, connections, lambda_context):
    for body in (
        "not json",
        json.dumps({"type": "snapshot"}),
        json.dumps({"type": "other", "connection_id": "c", "owner": "o", "job_id": "j"}),
    ):
        assert handler(_queued_event(aws, body), lambda_context) == {"batchItemFailures": []}


def test_connect_with_an_email_job_subscribes_and_its_snapshot_is_the_email_progress(
    aws, connections, lambda_context
):
    from functions.websocket.handler import handler as websocket_handler
    from horizon.clock import now_iso
    from horizon.email_jobs.models import EmailJob, JobStatus
    from horizon.email_jobs.store import EmailJobStore

    job_id = "5a7c9e2b-1111-4222-8333-444455556666"
    EmailJobStore().create(
        EmailJob(
            job_id=job_id,
            owner="local",
            status=JobStatus.PROCESSING,
            total_emails=4,
            sent=1,
            done=1,
            template="Hi {name}",
            subject="For {name}",
            created_at=now_iso(),
        )
    )
    connect = load_event("ws_connect")
    connect["queryStringParameters"] = {"job_id": job_id}
    connection_id = connect["requestContext"]["connectionId"]
    assert websocket_handler(connect, lambda_context) == {"statusCode": 200}
    assert connections.subscribers("local", job_id) == [connection_id]

    url = aws.provisioned.queue_urls["notify"]
    queued = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=queued["ReceiptHandle"])
    handler(_queued_event(aws, queued["Body"]), lambda_context)  # as the notify trigger would

    [message] = sent_to(connection_id)
    assert (message["type"], message["kind"], message["job_id"]) == ("progress", "email", job_id)
    assert (message["sent"], message["total_emails"]) == (1, 4)
