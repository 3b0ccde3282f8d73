"""Batches through the local stack (a subprocess, real HTTP and WebSocket clients on 127.0.0.1):
the grading chore against a local page server, 1,000 trivial tasks to exact completion,
duplicated messages, a poisoned message reaching the DLQ, idempotent POSTs, owner isolation."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.batch_pages import grading_task, page_words, serve_pages
from tests.integration.clients import watch_job
from tests.integration.conftest import start_local_stack

ENDED = ("completed", "failed", "timeout")


def post_batch(rest_url: str, tasks: list[Any], headers: dict[str, str] | None = None):
    return httpx.post(f"{rest_url}/batch", json=tasks, headers=headers or {}, timeout=30)


def get_batch(rest_url: str, batch_id: str, headers=None, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{rest_url}/batch/{batch_id}", params=params, headers=headers or {}, timeout=30
    )


def wait_for_batch(rest_url: str, batch_id: str, timeout_s: float = 120, headers=None) -> dict:
    """Poll GET /batch/{id} until it is completed; return it."""
    deadline = time.monotonic() + timeout_s
    batch: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = get_batch(rest_url, batch_id, headers, limit=1)
        assert response.status_code == 200, response.text
        batch = response.json()
        if batch["status"] == "completed":
            return batch
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} did not complete within {timeout_s} s: {batch}")


def all_tasks(rest_url: str, batch_id: str, headers=None, **params: Any) -> list[dict]:
    tasks, cursor = [], None
    while True:
        page = get_batch(
            rest_url,
            batch_id,
            headers,
            limit=1000,
            **params,
            **({"cursor": cursor} if cursor else {}),
        ).json()
        tasks += page["tasks"]
        cursor = page["next_cursor"]
        if cursor is None:
            return tasks


def queue_settled(stack, env_name: str, timeout_s: float = 30) -> None:
    """Wait until the queue holds nothing, visible or in flight."""
    sqs = stack.client("sqs")
    url = stack.env[env_name]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if (
            attributes["ApproximateNumberOfMessages"]
            == attributes["ApproximateNumberOfMessagesNotVisible"]
            == "0"
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"{env_name} did not drain within {timeout_s} s")


@pytest.fixture(scope="module")
def pages():
    with serve_pages() as base:
        yield base


def test_the_grading_batch_ends_with_each_urls_count(local_stack, pages):
    urls = [f"{pages}/page-{n}.html" for n in range(1, 11)]
    tasks = [grading_task(url) for url in urls] + [grading_task(f"{pages}/missing.html")]
    response = post_batch(local_stack.rest_url, tasks)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["task_count"] == 11
    batch = wait_for_batch(local_stack.rest_url, accepted["batch_id"])
    assert batch["counts"] == {
        "queued": 0,
        "running": 0,
        "completed": 10,
        "failed": 1,
        "timeout": 0,
    }
    tasks = all_tasks(local_stack.rest_url, accepted["batch_id"])
    assert [task["result"] for task in tasks[:10]] == [
        {"url": url, "words": len(page_words(n))} for n, url in enumerate(urls, start=1)
    ]
    assert tasks[10]["status"] == "failed" and "404" in tasks[10]["error"]
    [failed] = all_tasks(local_stack.rest_url, accepted["batch_id"], status="failed")
    assert failed["index"] == 10


@pytest.mark.timeout(300)
def test_a_thousand_trivial_tasks_complete_exactly(local_stack):
    response = post_batch(local_stack.rest_url, ["true"] * 1000)
    assert response.status_code == 202, response.text
    batch_id = response.json()["batch_id"]
    batch = wait_for_batch(local_stack.rest_url, batch_id, timeout_s=240)
    assert batch["counts"] == {
        "queued": 0,
        "running": 0,
        "completed": 1000,
        "failed": 0,
        "timeout": 0,
    }
    tasks = all_tasks(local_stack.rest_url, batch_id)
    assert [task["index"] for task in tasks] == list(range(1000))
    assert all(task["status"] == "completed" and task["attempts"] == 1 for task in tasks)
    assert batch["completed_at"] is not None


def test_duplicated_messages_neither_rerun_nor_double_count(local_stack):
    batch_id = post_batch(local_stack.rest_url, ["echo once", "sleep 1"]).json()["batch_id"]
    sqs = local_stack.client("sqs")
    # Copies of both task messages, one of them while its task may still be queued or running.
    for index in (0, 1, 1):
        sqs.send_message(
            QueueUrl=local_stack.env["BATCH_TASKS_QUEUE_URL"],
            MessageBody=json.dumps({"batch_id": batch_id, "owner": "local", "index": index}),
        )
    wait_for_batch(local_stack.rest_url, batch_id)
    queue_settled(local_stack, "BATCH_TASKS_QUEUE_URL")
    # And a redelivery of a finished task's message after the batch completed.
    sqs.send_message(
        QueueUrl=local_stack.env["BATCH_TASKS_QUEUE_URL"],
        MessageBody=json.dumps({"batch_id": batch_id, "owner": "local", "index": 0}),
    )
    queue_settled(local_stack, "BATCH_TASKS_QUEUE_URL")
    batch = get_batch(local_stack.rest_url, batch_id).json()
    assert batch["counts"] == {"queued": 0, "running": 0, "completed": 2, "failed": 0, "timeout": 0}
    assert [task["attempts"] for task in batch["tasks"]] == [1, 1]
    assert batch["tasks"][0]["stdout"] == "once\n"


def test_the_same_idempotency_key_answers_the_same_batch(local_stack):
    headers = {"Idempotency-Key": f"it-{time.time_ns()}"}
    first = post_batch(local_stack.rest_url, ["echo idem"], headers)
    again = post_batch(local_stack.rest_url, ["echo idem"], headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["batch_id"] == again.json()["batch_id"]
    wait_for_batch(local_stack.rest_url, first.json()["batch_id"])
    listed = httpx.get(f"{local_stack.rest_url}/batch", params={"limit": 100}, timeout=10).json()
    ids = [b["batch_id"] for b in listed["batches"]]
    assert ids.count(first.json()["batch_id"]) == 1
    assert post_batch(local_stack.rest_url, ["echo other"], headers).status_code == 422


def test_bad_batches_get_json_errors(local_stack):
    assert post_batch(local_stack.rest_url, ["true"] * 1001).status_code == 413
    bad = post_batch(local_stack.rest_url, ["true", ""])
    assert bad.status_code == 422 and "task 1" in bad.json()["detail"]
    assert (
        get_batch(local_stack.rest_url, "00000000-0000-0000-0000-000000000000").status_code == 404
    )


def test_a_subscriber_sees_the_counts_then_each_tenth_and_the_end(local_stack):
    batch_id = post_batch(local_stack.rest_url, ["true"] * 200).json()["batch_id"]
    received = watch_job(
        local_stack.ws_url,
        send=[{"action": "subscribe", "batch_id": batch_id}],
        timeout_s=120,
        done=lambda got: got[-1].get("type") == "error" or got[-1].get("status") == "completed",
    )
    assert all(message["type"] == "batch" for message in received), received
    ended = [sum(message["counts"][status] for status in ENDED) for message in received]
    assert ended == sorted(ended) and ended[-1] == 200
    # After the snapshot, an update came at least at every tenth not yet reached.
    tenths = {n * 10 // 200 for n in ended[1:]}
    assert set(range(ended[0] * 10 // 200 + 1, 11)) <= tenths
    assert received[-1]["status"] == "completed"


def test_the_workers_updates_carry_the_posts_x_request_id(local_stack):
    request_id = f"ws-corr-{uuid.uuid4()}"
    # Tasks slow enough (10 × 0.5 s) that the subscription comes well before the end.
    response = post_batch(local_stack.rest_url, ["sleep 0.5"] * 10, {"X-Request-Id": request_id})
    assert response.status_code == 202 and response.headers["X-Request-Id"] == request_id
    snapshot, *updates = watch_job(
        local_stack.ws_url,
        send=[{"action": "subscribe", "batch_id": response.json()["batch_id"]}],
        timeout_s=60,
        done=lambda got: got[-1].get("type") == "error" or got[-1].get("status") == "completed",
    )
    # The snapshot answers the subscribe (its own id); the updates come from the workers that
    # ran the tasks, whose queue messages carried the POST's id.
    assert snapshot["type"] == "batch" and snapshot["status"] != "completed", snapshot
    assert snapshot["correlation_id"] != request_id
    assert updates and updates[-1]["status"] == "completed", updates
    assert {update["correlation_id"] for update in updates} == {request_id}


TOKENS = {"a": "token-tenant-a", "b": "token-tenant-b"}


@pytest.fixture(scope="module")
def starved_stack():
    """Two tenants, and a worker that never has time to start a task: every task message is
    poisoned, returns at once each time, and reaches the DLQ after maxReceiveCount."""
    with start_local_stack(
        API_TOKENS=f"{TOKENS['a']}=tenant-a,{TOKENS['b']}=tenant-b",
        BATCH_TIME_RESERVE_S="100000",
    ) as stack:
        yield stack


def _auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[tenant]}"}


def test_poisoned_messages_reach_the_dlq_and_their_tasks_end_failed(starved_stack):
    response = post_batch(starved_stack.rest_url, ["true", "true"], _auth("a"))
    assert response.status_code == 202, response.text
    batch = wait_for_batch(starved_stack.rest_url, response.json()["batch_id"], 90, _auth("a"))
    assert batch["counts"] == {"queued": 0, "running": 0, "completed": 0, "failed": 2, "timeout": 0}
    tasks = all_tasks(starved_stack.rest_url, batch["batch_id"], _auth("a"))
    assert all("gave up after 4 deliveries" in task["error"] for task in tasks)


def test_batches_are_private_to_their_owner(starved_stack):
    batch_id = post_batch(starved_stack.rest_url, ["true"], _auth("a")).json()["batch_id"]
    assert get_batch(starved_stack.rest_url, batch_id, _auth("a")).status_code == 200
    hidden = get_batch(starved_stack.rest_url, batch_id, _auth("b"))
    assert hidden.status_code == 404 and hidden.json() == {
        "detail": f"batch {batch_id} not found",
        "code": "not_found",
        "request_id": hidden.headers["X-Request-Id"],
    }
    listed = httpx.get(f"{starved_stack.rest_url}/batch", headers=_auth("b"), timeout=10).json()
    assert batch_id not in [b["batch_id"] for b in listed["batches"]]
    assert post_batch(starved_stack.rest_url, ["true"]).status_code == 401
