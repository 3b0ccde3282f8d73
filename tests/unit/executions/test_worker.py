"""The sandbox worker against moto's queue and table, with a scripted sandbox."""

from __future__ import annotations

import orjson
import pytest

from horizon.executions.models import ExecutionStatus, Limits
from horizon.executions.settings import get_execution_settings
from sandbox_task.contract import SandboxError
from sandbox_task.worker import ExecutionWorker, Outcome
from tests.unit.executions.conftest import ScriptedSandbox, completed

OWNER = "tenant-a"


@pytest.fixture
def sandbox() -> ScriptedSandbox:
    return ScriptedSandbox()


@pytest.fixture
def worker(aws, sandbox) -> ExecutionWorker:
    return ExecutionWorker(sandbox)


def submit(service, code="print(1)"):
    return service.submit(OWNER, "python", code, "", Limits(timeout_s=2, memory_mb=128))


def queue_depth(aws) -> tuple[int, int]:
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=get_execution_settings().execute_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_a_message_runs_its_execution_and_the_result_is_stored(aws, service, store, worker):
    worker.sandbox.script.append(completed(stdout="5.166666666666667\n", execution_time_ms=7))
    execution = submit(service, code="import pandas")
    assert worker.poll_once(wait_time_s=0) == 1
    request = worker.sandbox.requests[0]
    assert (request.run_id, request.code) == (execution.execution_id, "import pandas")
    assert (request.limits.timeout_s, request.limits.memory_mb) == (2, 128)
    done = store.get(execution.execution_id)
    assert done.status == ExecutionStatus.COMPLETED and done.execution_time_ms == 7
    assert store.read(done.execution_id)[1:] == ("5.166666666666667\n", "")
    assert queue_depth(aws) == (0, 0)  # the message was deleted
    assert store.owner_counts(OWNER)[0] == 0


def test_the_codes_own_failure_is_its_result_not_a_retry(service, store, worker):
    worker.sandbox.script.append(
        completed(status="TIMEOUT", exit_code=None, error="time limit exceeded (2 s)")
    )
    execution = submit(service)
    assert worker.handle(orjson.dumps({"execution_id": execution.execution_id})) == Outcome.DONE
    done = store.get(execution.execution_id)
    assert (done.status, done.error, done.attempts) == (
        ExecutionStatus.TIMEOUT,
        "time limit exceeded (2 s)",
        1,
    )


def test_a_sandbox_failure_requeues_and_the_next_delivery_runs_it(aws, service, store, worker):
    worker.sandbox.script.append(SandboxError("the fork server died"))
    execution = submit(service)
    assert worker.poll_once(wait_time_s=0) == 1
    assert store.get(execution.execution_id).status == ExecutionStatus.QUEUED
    assert queue_depth(aws) == (1, 0)  # visible again at once
    assert worker.poll_once(wait_time_s=0) == 1
    done = store.get(execution.execution_id)
    assert (done.status, done.attempts) == (ExecutionStatus.COMPLETED, 2)
    assert list(done.timestamps) == ["QUEUED", "RUNNING", "COMPLETED"]
    assert [(t.status.value, t.attempt) for t in done.transitions] == [
        ("QUEUED", 0),
        ("RUNNING", 1),
        ("QUEUED", 1),
        ("RUNNING", 2),
        ("COMPLETED", 2),
    ]
    assert done.timestamps["QUEUED"] == done.transitions[2].at  # waiting counts from the retry


def test_sandbox_failures_end_in_failed_after_the_last_attempt(aws, service, store, worker):
    worker.sandbox.script.extend(SandboxError("broken") for _ in range(3))
    execution = submit(service)
    for _ in range(3):
        assert worker.poll_once(wait_time_s=0) == 1
    done = store.get(execution.execution_id)
    assert done.status == ExecutionStatus.FAILED
    assert done.error == "the sandbox failed 3 times; not retried again"
    assert "fork" not in done.error  # no internals
    assert queue_depth(aws) == (0, 0)
    assert store.owner_counts(OWNER)[0] == 0


def test_a_redelivered_message_of_a_finished_execution_runs_nothing(service, store, worker):
    execution = submit(service)
    body = orjson.dumps({"execution_id": execution.execution_id})
    assert worker.handle(body) == Outcome.DONE
    assert worker.handle(body) == Outcome.DONE
    assert len(worker.sandbox.requests) == 1
    assert store.owner_counts(OWNER)[0] == 0


def test_a_message_of_an_execution_another_worker_holds_comes_back_later(service, store, worker):
    execution = submit(service)
    store.claim(execution, lease_s=60, max_attempts=3, max_running=4)  # another worker is on it
    assert worker.handle(orjson.dumps({"execution_id": execution.execution_id})) == Outcome.LATER
    assert worker.sandbox.requests == []


def test_a_vanished_workers_execution_runs_again_then_ends_failed(service, store, worker):
    execution = submit(service)
    body = orjson.dumps({"execution_id": execution.execution_id})
    # Attempt 1 and 2 vanished (their leases lapsed); the redelivery runs attempt 3.
    vanished = store.claim(execution, lease_s=-1, max_attempts=3, max_running=4)
    vanished = store.claim(vanished, lease_s=-1, max_attempts=3, max_running=4)
    assert worker.handle(body) == Outcome.DONE
    assert store.get(execution.execution_id).status == ExecutionStatus.COMPLETED
    # A fourth delivery after a third vanished attempt ends it.
    other = submit(service)
    claimed = other
    for _ in range(3):
        claimed = store.claim(claimed, lease_s=-1, max_attempts=3, max_running=4)
    assert worker.handle(orjson.dumps({"execution_id": other.execution_id})) == Outcome.DONE
    ended = store.get(other.execution_id)
    assert ended.status == ExecutionStatus.FAILED
    assert ended.error == "the sandbox worker stopped during the run (3 attempts)"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"execution_id": 7}', b"{}"])
def test_malformed_messages_are_dropped(worker, body):
    assert worker.handle(body) == Outcome.DONE
    assert worker.sandbox.requests == []


def test_a_message_for_an_expired_execution_is_dropped(worker):
    assert worker.handle(orjson.dumps({"execution_id": "gone"})) == Outcome.DONE


def test_an_owner_at_the_running_limit_waits_in_the_queue(aws, service, store, settings_env):
    settings_env(EXECUTIONS_MAX_RUNNING_PER_OWNER="1", EXECUTIONS_BUSY_RETRY_S="30")
    worker = ExecutionWorker(ScriptedSandbox())
    busy = submit(service)
    store.claim(busy, lease_s=60, max_attempts=3, max_running=1)  # runs elsewhere
    waiting = submit(service)
    body = orjson.dumps({"execution_id": waiting.execution_id})
    assert worker.handle(body) == Outcome.BUSY
    assert store.get(waiting.execution_id).status == ExecutionStatus.QUEUED
    # Through the queue: the message of the first execution is LATER (left invisible), the
    # waiting one BUSY: sent again with a delay, so waiting never counts toward the DLQ.
    for _ in range(2):
        assert worker.poll_once(wait_time_s=0) == 1
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=get_execution_settings().execute_queue_url,
        AttributeNames=["All"],
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert worker.sandbox.requests == []
    assert worker.runs == 0


def test_code_too_large_to_ride_in_the_message_is_read_from_the_table(aws, service, store):
    worker = ExecutionWorker(ScriptedSandbox())
    code = "\x01" * 60_000  # six characters each in JSON: past SQS's 256 KiB with the record
    execution = submit(service, code=code)
    assert worker.poll_once(wait_time_s=0) == 1
    assert worker.sandbox.requests[0].code == code
    assert store.get(execution.execution_id).status == ExecutionStatus.COMPLETED
