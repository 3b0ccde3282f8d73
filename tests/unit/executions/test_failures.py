"""The execute DLQ's consumer, on moto: real DLQ messages in Lambda's SQS event shape.

Events are built the way the local stack's poller builds them (`build_sqs_event`) from
messages received from the provisioned DLQ, so receipt handles, attributes and the source ARN
are real.
"""

from __future__ import annotations

import logging
import threading

import orjson
import pytest

from functions.execution_failures import handler as failures_handler
from horizon import wiring
from horizon.executions.failures import (
    MAX_LOOKS,
    NEVER_TAKEN,
    WORKER_STOPPED,
    ExecutionFailures,
    ExecutionHeldError,
    ExecutionMovingError,
    Outcome,
)
from horizon.executions.models import ExecutionStatus, Limits
from horizon.executions.settings import get_execution_settings
from horizon.executions.store import ExecutionStore
from local.lambda_runtime import Runtime
from local.pollers import Poller, PollerConfig, build_sqs_event
from tests.conftest import REGION

OWNER = "tenant-a"
[DLQ_TRIGGER] = [t for t in wiring.QUEUE_TRIGGERS if t.queue == wiring.EXECUTE_DLQ]


@pytest.fixture(autouse=True)
def fresh_service():
    """The handler's service is made once per process; each test has tables of its own."""
    failures_handler.get_service.cache_clear()
    yield
    failures_handler.get_service.cache_clear()


def submit(service):
    return service.submit(OWNER, "python", "print(1)", "", Limits(timeout_s=2, memory_mb=128))


def claim(store, execution, lease_s):
    """Claim as a worker does; a negative `lease_s` is a claim that has already lapsed."""
    claimed = store.claim(execution, lease_s=lease_s, max_attempts=3, max_running=4)
    assert claimed is not None
    return claimed


def body_of(execution_id: str) -> str:
    return orjson.dumps({"execution_id": execution_id}).decode()


def dlq_url(aws) -> str:
    return aws.provisioned.queue_urls[wiring.EXECUTE_DLQ]


def dlq_event(aws, *bodies: str) -> dict:
    """Put `bodies` on the DLQ and return them as Lambda delivers them from there."""
    for body in bodies:
        aws.sqs.send_message(QueueUrl=dlq_url(aws), MessageBody=body)
    messages: list[dict] = []
    while len(messages) < len(bodies):
        received = aws.sqs.receive_message(
            QueueUrl=dlq_url(aws), MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        assert received, "the DLQ lost a message"
        messages += received
    return build_sqs_event(messages, aws.provisioned.queue_arns[wiring.EXECUTE_DLQ], REGION)


def invoke(event, lambda_context) -> list[str]:
    """Run the handler; return the message ids it reported as failed."""
    response = failures_handler.handler(event, lambda_context)
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def dlq_depth(aws) -> int:
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=dlq_url(aws),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_the_wiring_feeds_the_execute_dlq_to_this_function():
    assert DLQ_TRIGGER.function == wiring.EXECUTION_FAILURES_FUNCTION.key
    assert wiring.EXECUTION_FAILURES_FUNCTION.handler == (
        f"{failures_handler.__name__}.{failures_handler.handler.__name__}"
    )
    assert wiring.EXECUTION_FAILURES_FUNCTION.access == {
        "executions": "read_write",
        wiring.EXECUTE_DLQ: "consume",
    }


def test_a_message_the_queue_gave_up_on_ends_its_execution_through_the_local_poller(
    aws, service, store
):
    execution = submit(service)
    assert store.owner_counts(OWNER) == (1, 0)
    execute_url = get_execution_settings().execute_queue_url
    # Workers that vanish before settling the message: every receive counts, then SQS moves it.
    for _ in range(wiring.EXECUTE_QUEUE.max_receive_count):
        assert aws.sqs.receive_message(QueueUrl=execute_url, VisibilityTimeout=0)["Messages"]
    assert "Messages" not in aws.sqs.receive_message(QueueUrl=execute_url)
    poller = Poller(
        PollerConfig(
            trigger=DLQ_TRIGGER,
            queue_url=aws.provisioned.queue_urls[DLQ_TRIGGER.queue],
            queue_arn=aws.provisioned.queue_arns[DLQ_TRIGGER.queue],
            region=REGION,
        ),
        aws.sqs,
        Runtime({DLQ_TRIGGER.function: failures_handler.handler}, REGION).invoke,
        stop=threading.Event(),
        wait_time_s=1,
    )

    assert poller.poll_once() == 1

    ended = store.get(execution.execution_id)
    assert (ended.status, ended.error) == (ExecutionStatus.FAILED, NEVER_TAKEN)
    assert [t.status for t in ended.transitions] == [ExecutionStatus.QUEUED, ExecutionStatus.FAILED]
    assert store.owner_counts(OWNER) == (0, 0)
    assert dlq_depth(aws) == 0  # acknowledged
    public = service.describe(OWNER, execution.execution_id)
    assert (public.status, public.error) == (ExecutionStatus.FAILED, NEVER_TAKEN)


def test_a_running_execution_whose_worker_vanished_ends_failed_and_frees_both_counters(
    aws, service, store, lambda_context
):
    execution = claim(store, submit(service), lease_s=-1)
    assert store.owner_counts(OWNER) == (1, 1)

    assert invoke(dlq_event(aws, body_of(execution.execution_id)), lambda_context) == []

    ended = store.get(execution.execution_id)
    assert (ended.status, ended.error) == (ExecutionStatus.FAILED, WORKER_STOPPED)
    assert [(t.status, t.attempt) for t in ended.transitions] == [
        (ExecutionStatus.QUEUED, 0),
        (ExecutionStatus.RUNNING, 1),
        (ExecutionStatus.FAILED, 1),
    ]
    assert ended.lease_until is None
    assert store.owner_counts(OWNER) == (0, 0)
    assert "sandbox_task" not in ended.error and "Error" not in ended.error  # no internals


def test_the_full_execute_message_is_understood(aws, service, store, lambda_context):
    """The message as the API sends it: the id and the execution as submitted."""
    from horizon.executions.service import _message

    execution = submit(service)
    assert invoke(dlq_event(aws, _message(execution)), lambda_context) == []
    assert store.get(execution.execution_id).status == ExecutionStatus.FAILED


def test_a_redelivered_message_changes_nothing_and_releases_the_counters_once(
    aws, service, store, lambda_context
):
    lost = claim(store, submit(service), lease_s=-1)
    other = claim(store, submit(service), lease_s=60)  # still running elsewhere
    assert store.owner_counts(OWNER) == (2, 2)
    body = body_of(lost.execution_id)

    assert invoke(dlq_event(aws, body), lambda_context) == []
    first = store.read(lost.execution_id)
    assert store.owner_counts(OWNER) == (1, 1)
    assert invoke(dlq_event(aws, body, body), lambda_context) == []  # twice more, one batch

    assert store.read(lost.execution_id) == first
    assert [t.status for t in first[0].transitions].count(ExecutionStatus.FAILED) == 1
    assert store.owner_counts(OWNER) == (1, 1)  # the other execution is still counted
    assert store.get(other.execution_id).status == ExecutionStatus.RUNNING


def test_a_finished_execution_is_left_as_it_is(aws, service, store, lambda_context):
    execution = claim(store, submit(service), lease_s=60)
    assert store.finish(execution, ExecutionStatus.COMPLETED, stdout="1\n", exit_code=0)
    before = store.read(execution.execution_id)

    assert invoke(dlq_event(aws, body_of(execution.execution_id)), lambda_context) == []

    assert store.read(execution.execution_id) == before
    assert before[0].status == ExecutionStatus.COMPLETED and before[1] == "1\n"
    assert store.owner_counts(OWNER) == (0, 0)  # not released a second time


def test_an_unknown_execution_is_acknowledged_and_nothing_is_written(aws, store, lambda_context):
    unknown = "3f2b8c1e-0000-4000-8000-000000000000"
    assert invoke(dlq_event(aws, body_of(unknown)), lambda_context) == []
    items = aws.dynamodb.scan(TableName=get_execution_settings().executions_table)["Items"]
    assert items == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        "{}",
        '{"execution_id": 42}',
        '{"execution_id": ""}',
        '{"execution_id": "../../etc"}',
    ],
)
def test_a_malformed_message_is_logged_and_dropped_without_holding_up_the_batch(
    aws, service, store, lambda_context, caplog, body
):
    """Dropped, not retried: the DLQ has nothing behind it, and a body that names no execution
    never will, so putting it back would only bring it again every visibility timeout."""
    execution = claim(store, submit(service), lease_s=-1)
    event = dlq_event(aws, body, body_of(execution.execution_id))

    with caplog.at_level(logging.ERROR, logger="horizon.executions.failures"):
        assert invoke(event, lambda_context) == []

    assert any("malformed" in record.getMessage() for record in caplog.records)
    assert store.get(execution.execution_id).status == ExecutionStatus.FAILED


def test_an_execution_a_worker_still_holds_comes_back_later(aws, service, store, lambda_context):
    execution = claim(store, submit(service), lease_s=60)
    event = dlq_event(aws, body_of(execution.execution_id))

    assert invoke(event, lambda_context) == [event["Records"][0]["messageId"]]

    assert store.get(execution.execution_id).status == ExecutionStatus.RUNNING
    assert store.owner_counts(OWNER) == (1, 1)
    # Once the claim has lapsed (the DLQ's visibility timeout outlasts it), it is ended.
    later = ExecutionFailures(clock=lambda: store.get(execution.execution_id).lease_until + 1)
    assert later.end(execution.execution_id) == Outcome.ENDED
    assert store.owner_counts(OWNER) == (0, 0)


def test_the_held_check_uses_the_workers_own_rule(aws, service, store):
    execution = claim(store, submit(service), lease_s=60)
    lease_until = store.get(execution.execution_id).lease_until
    with pytest.raises(ExecutionHeldError):
        ExecutionFailures(clock=lambda: lease_until).end(execution.execution_id)
    assert ExecutionFailures(clock=lambda: lease_until + 1).end(execution.execution_id) == (
        Outcome.ENDED
    )


class LateWorkerStore(ExecutionStore):
    """A worker's result lands between the consumer's read and its conditional write."""

    def finish(self, execution, status, **result):
        if status == ExecutionStatus.FAILED:
            assert super().finish(execution, ExecutionStatus.COMPLETED, stdout="late\n")
        return super().finish(execution, status, **result)


def test_a_late_workers_result_wins_the_race_and_is_kept(aws, service, store):
    execution = claim(store, submit(service), lease_s=-1)

    outcome = ExecutionFailures(store=LateWorkerStore()).end(execution.execution_id)

    assert outcome == Outcome.ALREADY_FINISHED
    done, stdout, _ = store.read(execution.execution_id)
    assert (done.status, stdout) == (ExecutionStatus.COMPLETED, "late\n")
    assert store.owner_counts(OWNER) == (0, 0)


class AlwaysMovingStore(ExecutionStore):
    """Every conditional write finds the execution changed."""

    def finish(self, execution, status, **result):
        return False


def test_an_execution_that_keeps_changing_is_retried_later(aws, service, store):
    execution = submit(service)
    with pytest.raises(ExecutionMovingError):
        ExecutionFailures(store=AlwaysMovingStore()).end(execution.execution_id)
    assert MAX_LOOKS > 1
    assert store.get(execution.execution_id).status == ExecutionStatus.QUEUED


def test_a_dynamodb_failure_puts_the_message_back(aws, service, monkeypatch, lambda_context):
    execution = submit(service)
    broken = ExecutionFailures(store=ExecutionStore(table="no-such-table"))
    monkeypatch.setattr(failures_handler, "get_service", lambda: broken)
    event = dlq_event(aws, body_of(execution.execution_id))

    assert invoke(event, lambda_context) == [event["Records"][0]["messageId"]]


def test_the_transition_is_logged_with_the_execution_id(
    aws, service, store, lambda_context, caplog
):
    execution = claim(store, submit(service), lease_s=-1)
    with caplog.at_level(logging.INFO, logger="horizon.executions.service"):
        invoke(dlq_event(aws, body_of(execution.execution_id)), lambda_context)
    [record] = [r for r in caplog.records if getattr(r, "status", None) == "FAILED"]
    assert record.execution_id == execution.execution_id
    assert record.error == WORKER_STOPPED


def test_the_handler_flushes_the_ending_it_counted(aws, service, store, lambda_context, emf):
    execution = claim(store, submit(service), lease_s=-1)

    invoke(dlq_event(aws, body_of(execution.execution_id)), lambda_context)

    emf.read(flush=False)  # the handler flushed
    assert emf.values("ExecutionsEnded", status="FAILED") == [1.0]
