"""The batch routes through the FastAPI app on moto: validation, idempotency, paging, tenancy."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from horizon.api import create_app
from horizon.settings import reset_settings

TOKEN_A, TOKEN_B = "token-a", "token-b"


@pytest.fixture(autouse=True)
def event_loop_for_mangum():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def client(aws):
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def tenants(aws, monkeypatch):
    monkeypatch.setenv("API_TOKENS", f"{TOKEN_A}=tenant-a,{TOKEN_B}=tenant-b")
    reset_settings()
    return {
        "a": {"Authorization": f"Bearer {TOKEN_A}"},
        "b": {"Authorization": f"Bearer {TOKEN_B}"},
    }


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"task": "x"}, 422, "JSON array"),
        ("echo hi", 422, "JSON array"),
        ([], 422, "empty"),
        (["true", 5], 422, "task 1"),
        (["true", "   "], 422, "task 1: is empty"),
        (["true", "true", "x" * 5000], 422, "task 2: is longer than 4096"),
        ([{"task": "true", "extra": 1}], 422, "task 0: unknown field"),
        ([{"client_ref": "r"}], 422, "task 0: the field 'task' is required"),
        ([{"task": "true", "client_ref": 7}], 422, "task 0: client_ref"),
        (["true"] * 1001, 413, "at most 1000"),
    ],
)
def test_bad_batches_are_refused_with_a_json_error(client, body, status, words):
    response = client.post("/batch", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


def test_a_batch_is_accepted_and_described(client, queues):
    response = client.post("/batch", json=["echo one", {"task": "echo two", "client_ref": "b"}])
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["task_count"] == 2
    assert accepted["status_url"] == f"/batch/{accepted['batch_id']}"
    queues.run_batch()
    batch = client.get(accepted["status_url"]).json()
    assert batch["status"] == "completed"
    assert batch["counts"] == {"queued": 0, "running": 0, "completed": 2, "failed": 0, "timeout": 0}
    assert [(t["index"], t["stdout"], t["client_ref"]) for t in batch["tasks"]] == [
        (0, "one\n", None),
        (1, "two\n", "b"),
    ]
    assert set(batch) >= {"created_at", "completed_at", "next_cursor", "task_count"}


def test_tasks_page_and_filter_by_status(client, queues):
    tasks = ["true" if i % 3 else "false" for i in range(10)]
    batch_id = client.post("/batch", json=tasks).json()["batch_id"]
    queues.run_batch()
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/batch/{batch_id}", params=params).json()
        seen += [task["index"] for task in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(10))
    failed = client.get(f"/batch/{batch_id}", params={"status": "failed", "limit": 2}).json()
    assert [task["index"] for task in failed["tasks"]] == [0, 3]
    rest = client.get(
        f"/batch/{batch_id}", params={"status": "failed", "cursor": failed["next_cursor"]}
    ).json()
    assert [task["index"] for task in rest["tasks"]] == [6, 9] and rest["next_cursor"] is None
    assert client.get(f"/batch/{batch_id}", params={"cursor": "bogus"}).status_code == 422
    assert client.get(f"/batch/{batch_id}", params={"status": "nope"}).status_code == 422


def test_the_same_idempotency_key_answers_the_same_batch(client, aws):
    headers = {"Idempotency-Key": "batch-42"}
    first = client.post("/batch", json=["true", "true"], headers=headers)
    again = client.post("/batch", json=["true", "true"], headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    # One fan-out message only.
    url = aws.provisioned.queue_urls["batch_fanout"]
    attributes = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"
    other = client.post("/batch", json=["true"], headers=headers)
    assert other.status_code == 422
    assert client.post("/batch", json=["true"], headers={"Idempotency-Key": ""}).status_code == 422


def test_another_owners_batch_is_not_found_and_not_listed(client, tenants):
    batch_id = client.post("/batch", json=["true"], headers=tenants["a"]).json()["batch_id"]
    assert client.get(f"/batch/{batch_id}", headers=tenants["a"]).status_code == 200
    hidden = client.get(f"/batch/{batch_id}", headers=tenants["b"])
    assert hidden.status_code == 404 and "not found" in hidden.json()["detail"]
    assert client.get("/batch/no-such", headers=tenants["a"]).status_code == 404
    assert client.get("/batch/bad%20id", headers=tenants["a"]).status_code == 404
    assert client.get("/batch", headers=tenants["b"]).json()["batches"] == []
    listed = client.get("/batch", headers=tenants["a"]).json()["batches"]
    assert [b["batch_id"] for b in listed] == [batch_id]
    assert client.post("/batch", json=["true"]).status_code == 401


def test_batches_are_listed_newest_first_a_page_at_a_time(client):
    ids = [client.post("/batch", json=["true"]).json()["batch_id"] for _ in range(3)]
    first = client.get("/batch", params={"limit": 2}).json()
    second = client.get("/batch", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    listed = [b["batch_id"] for b in first["batches"] + second["batches"]]
    assert listed == ids[::-1]
    assert first["batches"][0]["status"] == "queued"


def test_the_routes_are_documented(client):
    paths = client.get("/openapi.json").json()["paths"]
    post = paths["/batch"]["post"]
    assert set(post["responses"]) >= {"202", "401", "409", "413", "422", "503"}
    assert post["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"
    assert set(paths["/batch/{batch_id}"]["get"]["responses"]) >= {"200", "404", "422"}
