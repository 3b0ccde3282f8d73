"""The one idempotency mechanism (Powertools' on the wiring's table), on moto."""

from __future__ import annotations

import threading

import pytest

from horizon.errors import ConflictError, InvalidRequestError
from horizon.idempotency import is_valid_key, run_once
from horizon.settings import get_settings


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict:
        self.calls += 1
        return {"id": f"result-{self.calls}", "n": 1.5}


def test_without_a_key_every_call_runs(aws):
    work = Counter()
    assert run_once("op", "alice", None, {"a": 1}, work) == {"id": "result-1", "n": 1.5}
    assert run_once("op", "alice", None, {"a": 1}, work) == {"id": "result-2", "n": 1.5}
    assert work.calls == 2


def test_the_same_key_and_payload_run_once_and_replay_the_answer(aws):
    work = Counter()
    first = run_once("op", "alice", "key-1", {"a": [1, 2]}, work)
    again = run_once("op", "alice", "key-1", {"a": [1, 2]}, work)
    assert first == again == {"id": "result-1", "n": 1.5}
    assert work.calls == 1
    items = aws.dynamodb.scan(TableName=get_settings().idempotency_table)["Items"]
    assert len(items) == 1
    assert items[0]["status"]["S"] == "COMPLETED"
    assert int(items[0]["expiration"]["N"]) > 0


def test_keys_are_scoped_by_owner_and_operation(aws):
    work = Counter()
    run_once("op", "alice", "key-1", {}, work)
    run_once("op", "bob", "key-1", {}, work)
    run_once("other-op", "alice", "key-1", {}, work)
    assert work.calls == 3


def test_a_key_reused_with_another_payload_is_refused(aws):
    work = Counter()
    run_once("op", "alice", "key-1", {"a": 1}, work)
    with pytest.raises(InvalidRequestError, match="different request"):
        run_once("op", "alice", "key-1", {"a": 2}, work)
    assert work.calls == 1


def test_a_failed_first_call_releases_its_key(aws):
    def fail() -> dict:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_once("op", "alice", "key-1", {}, fail)
    work = Counter()
    assert run_once("op", "alice", "key-1", {}, work) == {"id": "result-1", "n": 1.5}


def test_a_repeat_while_the_first_call_runs_is_a_conflict(aws):
    started, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow() -> dict:
        started.set()
        release.wait(10)
        return {"done": True}

    def first() -> None:
        try:
            run_once("op", "alice", "key-1", {}, slow)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    try:
        with pytest.raises(ConflictError, match="still in progress"):
            run_once("op", "alice", "key-1", {}, Counter())
    finally:
        release.set()
        thread.join(10)
    assert not errors
    assert run_once("op", "alice", "key-1", {}, Counter()) == {"done": True}


@pytest.mark.parametrize(
    ("key", "valid"),
    [("a", True), ("x" * 255, True), ("", False), ("x" * 256, False), ("a b", False), ("é", False)],
)
def test_key_shape(key, valid):
    assert is_valid_key(key) is valid


def test_the_header_dependency_refuses_a_malformed_key():
    from horizon.api.deps import idempotency_key

    assert idempotency_key(None) is None
    assert idempotency_key("batch-2026-12-06") == "batch-2026-12-06"
    with pytest.raises(InvalidRequestError, match="Idempotency-Key"):
        idempotency_key("two words")
