"""JobProgressPublisher: every subscriber of the job, nobody else; gone connections dropped."""

import pytest

from horizon import correlation
from horizon.jobs import JobCounts, JobStatus, JobStore
from horizon.realtime import JobProgressPublisher, MessageTooLargeError, Notifier
from horizon.realtime.notifier import Delivery
from tests.unit.realtime.conftest import age_connection, connection_items, make_job, sent_to


def _subscribe(connections, connection_id, job, owner="local"):
    connection = connections.put_connection(connection_id, owner)
    connections.subscribe_job(connection, job.job_id)


def test_publish_reaches_every_subscriber_of_the_job_and_no_one_else(connections):
    job, other = make_job(), make_job()
    _subscribe(connections, "conn-1", job)
    _subscribe(connections, "conn-2", job)
    _subscribe(connections, "conn-3", other)
    finished = job.model_copy(
        update={
            "status": JobStatus.COMPLETED,
            "seq": 12,
            "counts": JobCounts(offset=1000, lines=100, valid=98, invalid=2),
            "finished_at": "2026-11-22T04:05:00.000Z",
        }
    )

    JobProgressPublisher().publish(finished)

    expected = {
        "type": "progress",
        "job_id": job.job_id,
        "seq": 12,
        "status": "completed",
        "percent": 100,
        "lines": 100,
        "valid": 98,
        "invalid": 2,
        "finished_at": "2026-11-22T04:05:00.000Z",
    }
    assert sent_to("conn-1") == [expected]
    assert sent_to("conn-2") == [expected]
    assert sent_to("conn-3") == []


def test_another_owners_subscriber_with_the_same_job_id_gets_nothing(connections):
    job = make_job()
    _subscribe(connections, "conn-mine", job)
    _subscribe(connections, "conn-theirs", job, owner="someone-else")

    JobProgressPublisher().publish(job)

    assert len(sent_to("conn-mine")) == 1
    assert sent_to("conn-theirs") == []


def test_failed_job_carries_its_error(connections):
    job = make_job()
    _subscribe(connections, "conn-1", job)
    failed = JobStore().fail("local", job.job_id, "the file is not UTF-8")

    JobProgressPublisher().publish(failed)

    [message] = sent_to("conn-1")
    assert message["status"] == "failed"
    assert message["error"] == "the file is not UTF-8"
    assert message["seq"] == failed.seq == 1


def test_gone_connection_is_deleted_and_the_others_still_served(aws, connections, gone):
    job = make_job()
    _subscribe(connections, "conn-gone", job)
    _subscribe(connections, "conn-ok", job)
    age_connection(aws, "conn-gone", 60)
    gone({"conn-gone"})

    JobProgressPublisher().publish(job)

    assert connection_items(aws, "conn-gone") == []
    assert connections.subscribers("local", job.job_id) == ["conn-ok"]
    assert len(sent_to("conn-ok")) == 1


def test_gone_but_just_connected_is_kept(aws, connections, gone):
    # $connect may not have returned yet: API Gateway answers 410 until it has.
    job = make_job()
    _subscribe(connections, "conn-new", job)
    gone({"conn-new"})

    JobProgressPublisher().publish(job)

    assert connections.subscribers("local", job.job_id) == ["conn-new"]


def test_publish_never_raises(aws, connections):
    job = make_job()
    _subscribe(connections, "conn-1", job)
    aws.dynamodb.delete_table(TableName=aws.env["CONNECTIONS_TABLE"])

    JobProgressPublisher().publish(job)  # logged, not raised


def test_a_push_carries_the_correlation_id_bound_when_it_is_sent(aws):
    notifier = Notifier()
    with correlation.bound("req-42"):
        notifier.send("conn-1", {"type": "pong"})
        notifier.send("conn-1", {"type": "exit", "correlation_id": "run-7"})
    notifier.send("conn-1", {"type": "pong"})

    assert sent_to("conn-1") == [
        {"type": "pong", "correlation_id": "req-42"},
        {"type": "exit", "correlation_id": "run-7"},  # a message's own id is kept
        {"type": "pong"},  # nothing bound: no key
    ]


class _FailingClient:
    def post_to_connection(self, **kwargs):
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="https://example")


def test_notifier_reports_failures_and_refuses_oversized_messages(aws):
    notifier = Notifier(client=_FailingClient())
    assert notifier.send("conn-1", {"type": "pong"}) is Delivery.FAILED
    with pytest.raises(MessageTooLargeError):
        notifier.send("conn-1", {"type": "output", "data": "x" * 40_000})
