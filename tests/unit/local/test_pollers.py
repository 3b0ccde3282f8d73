"""SQS event source mapping: event shape and ReportBatchItemFailures semantics, on moto."""

import json
import threading
import time

import pytest

from horizon import wiring
from local.pollers import Poller, PollerConfig, PollerGroup, build_sqs_event, failed_ids
from tests.events import load_event

TRIGGER = wiring.QueueTrigger(queue="notify", function="notify", batch_size=10, max_concurrency=1)


def config_for(aws, trigger):
    return PollerConfig(
        trigger=trigger,
        queue_url=aws.provisioned.queue_urls[trigger.queue],
        queue_arn=aws.provisioned.queue_arns[trigger.queue],
        region="us-east-1",
    )


def _poller(aws, invoke, trigger=TRIGGER):
    # A short long-poll: a receive on an empty queue answers within a second, not twenty.
    return Poller(config_for(aws, trigger), aws.sqs, invoke, threading.Event(), wait_time_s=1)


def _send(aws, bodies, queue="notify"):
    for body in bodies:
        aws.sqs.send_message(
            QueueUrl=aws.provisioned.queue_urls[queue],
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )


def _visible_bodies(aws, queue="notify", dlq=False):
    url = (aws.provisioned.dlq_urls if dlq else aws.provisioned.queue_urls)[queue]
    bodies = []
    for _ in range(3):
        messages = aws.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        bodies = sorted({*bodies, *(m["Body"] for m in messages)})
    return bodies


def _short_visibility(aws, queue="notify"):
    # Received-but-not-deleted messages come back at once.
    aws.sqs.set_queue_attributes(
        QueueUrl=aws.provisioned.queue_urls[queue], Attributes={"VisibilityTimeout": "0"}
    )


def test_event_has_the_shape_lambda_sends(aws):
    events = []
    _send(aws, ['{"n": 1}'])
    _poller(aws, lambda key, event: events.append((key, event))).poll_once()
    key, event = events[0]
    assert key == "notify"
    sample = load_event("local_sqs_event")["Records"][0]
    record = event["Records"][0]
    assert set(sample) == set(record)
    assert set(sample["attributes"]) <= set(record["attributes"])
    assert record["body"] == '{"n": 1}'
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == aws.provisioned.queue_arns["notify"]
    assert record["awsRegion"] == "us-east-1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"


def test_build_sqs_event_computes_md5_when_missing():
    event = build_sqs_event(
        [{"MessageId": "m", "ReceiptHandle": "r", "Body": "hello"}], "arn:q", "us-east-1"
    )
    assert event["Records"][0]["md5OfBody"] == "5d41402abc4b2a76b9719d911017c592"


def test_success_deletes_the_whole_batch(aws):
    _send(aws, ["a", "b", "c"])
    poller = _poller(aws, lambda key, event: None)
    received = 0
    for _ in range(3):
        received += poller.poll_once()
    assert received == 3
    _short_visibility(aws)
    assert _visible_bodies(aws) == []


def test_batch_item_failures_leave_only_those_messages(aws):
    _send(aws, ["ok-1", "bad", "ok-2"])
    _short_visibility(aws)

    def handler(key, event):
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"
            ]
        }

    poller = _poller(aws, handler)
    poller.poll_once()
    remaining = _visible_bodies(aws)
    assert "bad" in remaining
    assert "ok-1" not in remaining and "ok-2" not in remaining


def test_a_handler_that_raises_leaves_the_whole_batch(aws):
    _send(aws, ["a", "b"])
    _short_visibility(aws)

    def handler(key, event):
        raise RuntimeError("boom")

    assert _poller(aws, handler).poll_once() >= 1
    assert _visible_bodies(aws) == ["a", "b"]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        # An id outside the batch, or none at all, fails the whole batch, as in Lambda.
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
        ({"batchItemFailures": [{}]}, {"a", "b"}),
        ({"batchItemFailures": "b"}, {"a", "b"}),
    ],
)
def test_failed_ids(response, expected):
    assert failed_ids(response, ["a", "b"]) == expected


def test_a_message_that_always_fails_moves_to_the_dlq(aws):
    max_receives = wiring.queue("notify").max_receive_count
    _short_visibility(aws)
    _send(aws, ["poison"])
    attempts = []

    def handler(key, event):
        attempts.append(event["Records"][0]["attributes"]["ApproximateReceiveCount"])
        raise RuntimeError("always")

    poller = _poller(aws, handler)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _visible_bodies(aws, dlq=True):
        poller.poll_once()
    assert _visible_bodies(aws, dlq=True) == ["poison"]
    assert len(attempts) == max_receives
    assert attempts[-1] == str(max_receives)


def test_poller_group_runs_and_stops_promptly(aws):
    seen = []
    done = threading.Event()

    def handler(key, event):
        seen.extend(json.loads(r["body"]) for r in event["Records"])
        if len(seen) >= 5:
            done.set()

    trigger = wiring.QueueTrigger(
        queue="notify", function="notify", batch_size=2, max_concurrency=2
    )
    config = config_for(aws, trigger)
    group = PollerGroup([config], lambda: aws.sqs, handler, wait_time_s=1)
    group.start()
    try:
        _send(aws, [json.dumps(i) for i in range(5)])
        assert done.wait(20)
        assert group.alive() == {"notify": 2}
    finally:
        started = time.monotonic()
        group.stop()
        assert time.monotonic() - started < 5
    assert sorted(seen) == [0, 1, 2, 3, 4]
    for poller in group.pollers:  # an idle poller ends with its (1 s) long poll
        poller.thread.join(5)
    assert group.alive() == {"notify": 0}


def test_stopping_does_not_wait_for_an_idle_long_poll_and_hands_on_nothing_after(aws):
    calls = []
    polling = threading.Event()

    class WatchedSqs:
        """The SQS client, saying when the poller's long poll has begun."""

        def __getattr__(self, name):
            return getattr(aws.sqs, name)

        def receive_message(self, **kwargs):
            polling.set()
            return aws.sqs.receive_message(**kwargs)

    trigger = wiring.QueueTrigger(
        queue="notify", function="notify", batch_size=1, max_concurrency=1
    )
    config = config_for(aws, trigger)
    group = PollerGroup([config], WatchedSqs, lambda *args: calls.append(args))
    group.start()
    assert polling.wait(10)
    group.stop()
    (poller,) = group.pollers
    assert poller.thread.is_alive()  # stop() returned during its 20 s long poll

    # The poll, still waiting, returns with this message: it is not handed to the function
    # (it comes back after its visibility timeout) and the poller ends.
    _send(aws, ["after stop"])
    poller.thread.join(10)
    assert not poller.thread.is_alive()
    assert calls == []
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=config.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
