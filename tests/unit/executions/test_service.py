"""ExecutionService and ExecutionStore on moto: queueing, limits, claims, results, sessions."""

from __future__ import annotations

import pytest

from horizon.errors import ConflictError, InvalidRequestError, NotFoundError, PayloadTooLargeError
from horizon.executions.exceptions import TooManyExecutionsError
from horizon.executions.models import (
    TEMPLATES,
    ExecutionAccepted,
    ExecutionPublic,
    ExecutionStatus,
    Limits,
    SessionCreate,
    SessionPatch,
)
from horizon.executions.service import ExecutionService

OWNER = "tenant-a"


def submit(service, code="print(1)", owner=OWNER, **kwargs):
    return service.submit(owner, "python", code, "", Limits(), **kwargs)


def test_submit_stores_a_queued_execution_and_announces_it(service, store, queued_ids):
    execution = submit(service)
    stored = store.get(execution.execution_id, OWNER)
    assert stored.status == ExecutionStatus.QUEUED
    assert stored.code == "print(1)"
    assert set(stored.timestamps) == {"QUEUED"}
    assert queued_ids() == [execution.execution_id]
    assert store.owner_counts(OWNER)[0] == 1


@pytest.mark.parametrize(
    ("language", "code", "error"),
    [
        ("ruby", "puts 1", InvalidRequestError),
        ("python", "   \n", InvalidRequestError),
        ("python", "x" * (64 * 1024 + 1), PayloadTooLargeError),
    ],
)
def test_bad_submissions_are_refused_before_anything_is_stored(
    service, store, queued_ids, language, code, error
):
    with pytest.raises(error):
        service.submit(OWNER, language, code, "", Limits())
    assert queued_ids() == []
    assert store.owner_counts(OWNER)[0] == 0


def test_the_per_owner_limit_refuses_with_retry_after(service, store, settings_env):
    settings_env(EXECUTIONS_MAX_ACTIVE_PER_OWNER="2")
    service = ExecutionService()
    first = submit(service)
    submit(service)
    with pytest.raises(TooManyExecutionsError) as refused:
        submit(service)
    assert refused.value.retry_after_s >= 1
    # Another owner is not affected, and a finished execution frees a place.
    submit(service, owner="tenant-b")
    assert store.finish(first, ExecutionStatus.FAILED, error="test")
    submit(service)
    assert store.owner_counts(OWNER)[0] == 2


def test_a_claim_is_taken_once_and_the_result_is_stored_once(service, store):
    execution = submit(service)
    claimed = store.claim(execution, lease_s=30, max_attempts=3, max_running=4)
    assert claimed is not None and claimed.status == ExecutionStatus.RUNNING
    assert claimed.attempts == 1 and "RUNNING" in claimed.timestamps
    assert store.claim(execution, lease_s=30, max_attempts=3, max_running=4) is None  # a redelivery
    assert store.finish(claimed, ExecutionStatus.COMPLETED, stdout="1\n", exit_code=0)
    assert not store.finish(claimed, ExecutionStatus.FAILED, error="late writer")
    done = store.get(execution.execution_id)
    assert done.status == ExecutionStatus.COMPLETED and done.exit_code == 0
    assert list(done.timestamps) == ["QUEUED", "RUNNING", "COMPLETED"]
    assert store.read(done.execution_id)[1:] == ("1\n", "")
    assert store.owner_counts(OWNER)[0] == 0


def test_a_lapsed_claim_is_taken_again_until_attempts_run_out(service, store):
    execution = submit(service)
    first = store.claim(execution, lease_s=-5, max_attempts=2, max_running=4)  # lapsed at once
    assert first is not None
    second = store.claim(first, lease_s=-5, max_attempts=2, max_running=4)
    assert second is not None and second.attempts == 2
    assert (
        store.claim(second, lease_s=30, max_attempts=2, max_running=4) is None
    )  # no attempts left
    # The first attempt's late result cannot land over the second's claim, nor its output
    # over the second's.
    assert store.finish(second, ExecutionStatus.COMPLETED, stdout="fresh\n", exit_code=0)
    assert not store.finish(first, ExecutionStatus.COMPLETED, stdout="stale\n")
    assert store.read(execution.execution_id)[1:] == ("fresh\n", "")


def test_requeue_gives_the_execution_back_for_another_attempt(service, store):
    execution = submit(service)
    claimed = store.claim(execution, lease_s=30, max_attempts=3, max_running=4)
    assert store.requeue(claimed)
    again = store.get(execution.execution_id)
    assert again.status == ExecutionStatus.QUEUED and again.attempts == 1
    assert store.claim(again, lease_s=30, max_attempts=3, max_running=4).attempts == 2


def test_large_output_is_stored_in_pieces_and_read_back_whole(service, store):
    execution = store.claim(submit(service), lease_s=30, max_attempts=3, max_running=4)
    stdout = "é" * 200_000 + "end"
    stderr = "\x00\ufffd" * 10
    assert store.finish(
        execution, ExecutionStatus.COMPLETED, stdout=stdout, stderr=stderr, truncated=True
    )
    done = store.get(execution.execution_id)
    assert store.read(done.execution_id)[1:] == (stdout, stderr)
    assert done.truncated


def test_describe_hides_other_owners_and_shows_output_when_finished(service, store):
    execution = submit(service)
    with pytest.raises(NotFoundError):
        service.describe("tenant-b", execution.execution_id)
    queued = service.describe(OWNER, execution.execution_id)
    assert queued.status == ExecutionStatus.QUEUED and queued.stdout is None
    claimed = store.claim(execution, lease_s=30, max_attempts=3, max_running=4)
    store.finish(claimed, ExecutionStatus.FAILED, stderr="Traceback", exit_code=1, error="x")
    failed = service.describe(OWNER, execution.execution_id)
    assert (failed.status, failed.stderr, failed.exit_code) == ("FAILED", "Traceback", 1)


def test_describe_ends_an_execution_whose_worker_never_came_back(service, store, settings_env):
    settings_env(EXECUTIONS_LOST_AFTER_S="1")
    service = ExecutionService()
    execution = submit(service)
    store.claim(execution, lease_s=-10, max_attempts=3, max_running=4)  # lapsed 10 s ago
    answer = service.describe(OWNER, execution.execution_id)
    assert answer.status == ExecutionStatus.FAILED
    assert answer.error == "the sandbox worker stopped during the run"
    assert store.owner_counts(OWNER)[0] == 0


def test_execute_returns_the_result_when_it_lands_in_time(service, store):
    sleeps: list[float] = []

    def worker_runs_during_the_wait(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:  # the worker finishes while the API waits
            pending = store.get(execution_ids[0])
            claimed = store.claim(pending, lease_s=30, max_attempts=3, max_running=4)
            store.finish(claimed, ExecutionStatus.COMPLETED, stdout="1\n", exit_code=0)

    execution_ids: list[str] = []
    waiting = ExecutionService(sleep=worker_runs_during_the_wait)
    original_submit = waiting.submit

    def remember(*args, **kwargs):
        execution = original_submit(*args, **kwargs)
        execution_ids.append(execution.execution_id)
        return execution

    waiting.submit = remember  # type: ignore[method-assign]
    answer = waiting.execute(OWNER, "python", "print(1)", "", Limits())
    assert isinstance(answer, ExecutionPublic)
    assert (answer.status, answer.stdout, answer.exit_code) == ("COMPLETED", "1\n", 0)
    assert sleeps == [0.01, 0.01]  # the first second is watched closely


def test_execute_answers_accepted_when_the_wait_bound_passes(settings_env):
    settings_env(EXECUTE_WAIT_S="0.05")
    clock = iter(range(1000))
    service = ExecutionService(sleep=lambda _s: None, monotonic=lambda: next(clock) * 0.01)
    answer = service.execute(OWNER, "python", "print(1)", "", Limits())
    assert isinstance(answer, ExecutionAccepted)
    assert answer.status == ExecutionStatus.QUEUED


def test_a_long_wait_thins_out_its_reads(settings_env):
    settings_env(EXECUTE_WAIT_S="20")
    sleeps: list[float] = []
    clock = iter(range(10_000))
    service = ExecutionService(sleep=sleeps.append, monotonic=lambda: next(clock) * 0.1)
    answer = service.execute(OWNER, "python", "print(1)", "", Limits())
    assert isinstance(answer, ExecutionAccepted)
    assert sleeps[0] == 0.01
    assert sleeps[-1] == 0.25 and sorted(sleeps) == sleeps
    assert len(sleeps) < 120  # ~20 s of waiting in a few dozen reads


def test_sessions_start_from_the_template_save_and_run_their_saved_code(service, store, queued_ids):
    session = service.create_session(OWNER, SessionCreate(language="python"))
    assert session.status == "ACTIVE" and session.version == 1
    assert session.source_code == TEMPLATES["python"]
    saved = service.save_session(OWNER, session.session_id, SessionPatch(source_code="print(2)"))
    assert (saved.version, saved.source_code) == (2, "print(2)")
    assert queued_ids() == []  # saving never runs anything
    accepted = service.run_session(OWNER, session.session_id, "", Limits())
    assert accepted.status == ExecutionStatus.QUEUED
    assert queued_ids() == [accepted.execution_id]
    execution = store.get(accepted.execution_id, OWNER)
    assert (execution.code, execution.session_id) == ("print(2)", session.session_id)


def test_session_saves_with_a_version_are_optimistic(service):
    session = service.create_session(OWNER, SessionCreate(source_code="a = 1"))
    service.save_session(OWNER, session.session_id, SessionPatch(source_code="a = 2", version=1))
    with pytest.raises(ConflictError, match="version 2"):
        service.save_session(
            OWNER, session.session_id, SessionPatch(source_code="a = 3", version=1)
        )
    # Without a version the last write wins.
    last = service.save_session(OWNER, session.session_id, SessionPatch(source_code="a = 4"))
    assert (last.version, last.source_code) == (3, "a = 4")


def test_sessions_of_another_owner_are_invisible(service):
    session = service.create_session(OWNER, SessionCreate())
    with pytest.raises(NotFoundError):
        service.get_session("tenant-b", session.session_id)
    with pytest.raises(NotFoundError):
        service.save_session("tenant-b", session.session_id, SessionPatch(source_code="x"))
    with pytest.raises(NotFoundError):
        service.run_session("tenant-b", session.session_id, "", Limits())
    assert service.get_session(OWNER, session.session_id).source_code == TEMPLATES["python"]


def test_session_checks(service):
    with pytest.raises(InvalidRequestError, match="unsupported language"):
        service.create_session(OWNER, SessionCreate(language="cobol"))
    session = service.create_session(OWNER, SessionCreate())
    with pytest.raises(InvalidRequestError, match="nothing to save"):
        service.save_session(OWNER, session.session_id, SessionPatch())
    with pytest.raises(PayloadTooLargeError):
        service.save_session(
            OWNER, session.session_id, SessionPatch(source_code="#" * (64 * 1024 + 1))
        )
    with pytest.raises(NotFoundError):
        service.save_session(OWNER, "no-such-session", SessionPatch(source_code="x"))


def test_lost_queued_executions_end_failed_when_read(service, store, settings_env):
    settings_env(EXECUTIONS_LOST_AFTER_S="1")
    execution = submit(ExecutionService())
    # Pretend it was queued long ago.
    store.client.update_item(
        TableName=store._table,
        Key={"pk": {"S": f"EXEC#{execution.execution_id}"}, "sk": {"S": "record"}},
        UpdateExpression="SET timestamps.QUEUED = :old",
        ExpressionAttributeValues={":old": {"S": "2020-01-01T00:00:00.000Z"}},
    )
    answer = ExecutionService().describe(OWNER, execution.execution_id)
    assert answer.status == ExecutionStatus.FAILED
    assert answer.error == "no sandbox worker took the execution in time"


def test_an_owner_runs_at_most_max_running_at_once(service, store):
    from horizon.executions.exceptions import OwnerBusyError

    first, second, third = (submit(service) for _ in range(3))
    other = submit(service, owner="tenant-b")
    running = [store.claim(e, lease_s=30, max_attempts=3, max_running=2) for e in (first, second)]
    with pytest.raises(OwnerBusyError):
        store.claim(third, lease_s=30, max_attempts=3, max_running=2)
    assert store.get(third.execution_id).status == ExecutionStatus.QUEUED
    assert store.claim(other, lease_s=30, max_attempts=3, max_running=2) is not None
    assert store.owner_counts(OWNER) == (3, 2)
    # A result frees a running place; a requeue too.
    store.finish(running[0], ExecutionStatus.COMPLETED, exit_code=0)
    assert store.owner_counts(OWNER) == (2, 1)
    claimed = store.claim(third, lease_s=30, max_attempts=3, max_running=2)
    assert store.requeue(claimed)
    assert store.owner_counts(OWNER) == (2, 1)
    # A lapsed claim taken again is counted once.
    lapsed = store.claim(store.get(third.execution_id), lease_s=-1, max_attempts=3, max_running=2)
    again = store.claim(lapsed, lease_s=30, max_attempts=3, max_running=2)
    assert again.attempts == lapsed.attempts + 1
    assert store.owner_counts(OWNER) == (2, 2)
    store.finish(again, ExecutionStatus.COMPLETED, exit_code=0)
    store.finish(running[1], ExecutionStatus.COMPLETED, exit_code=0)
    assert store.owner_counts(OWNER) == (0, 0)


def test_a_lapsed_attempts_large_output_never_mixes_into_the_winners(service, store):
    execution = submit(service)
    first = store.claim(execution, lease_s=-5, max_attempts=3, max_running=4)
    second = store.claim(first, lease_s=30, max_attempts=3, max_running=4)
    winner, loser = "w" * 100_000, "l" * 150_000  # both too large for the record
    assert store.finish(second, ExecutionStatus.COMPLETED, stdout=winner, exit_code=0)
    assert not store.finish(first, ExecutionStatus.COMPLETED, stdout=loser, stderr=loser)
    assert store.read(execution.execution_id)[1:] == (winner, "")
