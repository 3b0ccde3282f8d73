"""The code-execution routes through the FastAPI app on moto, with a worker thread running a
scripted sandbox (the real sandbox is driven in tests/integration and tests/unit/sandbox)."""

from __future__ import annotations

import threading

import pytest

from horizon.executions.settings import reset_execution_settings
from sandbox_task.worker import ExecutionWorker
from tests.unit.api.conftest import TOKEN_A, TOKEN_B
from tests.unit.executions.conftest import ScriptedSandbox, completed


@pytest.fixture
def sandbox():
    return ScriptedSandbox()


@pytest.fixture
def worker_thread(aws, sandbox):
    """A sandbox worker polling the execute queue while the test runs."""
    stop = threading.Event()
    worker = ExecutionWorker(sandbox)

    def loop():
        while not stop.is_set():
            worker.poll_once(wait_time_s=1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield worker
    stop.set()
    thread.join(5)


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_execute_waits_for_and_returns_the_result(client, tenants, worker_thread, sandbox):
    sandbox.script.append(completed(stdout="5.166666666666667\n", execution_time_ms=4))
    response = client.post(
        "/execute",
        json={"language": "python", "code": "print(1)"},
        headers=auth(TOKEN_A),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "COMPLETED"
    assert body["stdout"] == "5.166666666666667\n"
    assert (body["stderr"], body["exit_code"], body["error"], body["truncated"]) == (
        "",
        0,
        None,
        False,
    )
    assert body["execution_time_ms"] == 4
    assert set(body["timestamps"]) == {"QUEUED", "RUNNING", "COMPLETED"}
    # The same execution is readable by its owner only.
    path = f"/executions/{body['execution_id']}"
    assert client.get(path, headers=auth(TOKEN_A)).json()["stdout"] == "5.166666666666667\n"
    assert client.get(path, headers=auth(TOKEN_B)).status_code == 404


def test_execute_answers_202_when_the_result_is_late(client, tenants, monkeypatch):
    monkeypatch.setenv("EXECUTE_WAIT_S", "0.05")
    reset_execution_settings()
    response = client.post(
        "/execute", json={"language": "python", "code": "print(1)"}, headers=auth(TOKEN_A)
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "QUEUED"
    polled = client.get(f"/executions/{body['execution_id']}", headers=auth(TOKEN_A))
    assert polled.status_code == 200
    assert polled.json()["status"] == "QUEUED" and polled.json()["stdout"] is None


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"language": "ruby", "code": "puts 1"}, 422, "unsupported language 'ruby'"),
        ({"language": "python", "code": "x" * (64 * 1024 + 1)}, 413, "the limit is 65536"),
        ({"language": "python", "code": "1", "timeout_s": 3600}, 422, None),
        ({"language": "python", "code": "1", "memory_mb": 0}, 422, None),
        ({"language": "python"}, 422, None),
        ({"language": "python", "code": "1", "timeout_s": 0.001}, 422, None),
        # No switch widens the sandbox: an unknown field is refused, not ignored.
        ({"language": "python", "code": "1", "network": True}, 422, "network"),
    ],
)
def test_bad_execute_requests(client, tenants, monkeypatch, body, status, detail):
    monkeypatch.setenv("EXECUTE_WAIT_S", "0.01")
    reset_execution_settings()
    response = client.post("/execute", json=body, headers=auth(TOKEN_A))
    assert response.status_code == status, response.text
    if detail:
        assert detail in str(response.json()["detail"])


def test_code_with_a_lone_surrogate_is_refused_with_422(client, tenants):
    raw = b'{"language": "python", "code": "print(1)\\ud800"}'
    response = client.post(
        "/execute",
        content=raw,
        headers={**auth(TOKEN_A), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "not valid Unicode" in response.json()["detail"]


def test_too_many_unfinished_executions_get_429_with_retry_after(client, tenants, monkeypatch):
    monkeypatch.setenv("EXECUTE_WAIT_S", "0.01")
    monkeypatch.setenv("EXECUTIONS_MAX_ACTIVE_PER_OWNER", "2")
    reset_execution_settings()
    request = {"language": "python", "code": "print(1)"}
    for _ in range(2):
        assert client.post("/execute", json=request, headers=auth(TOKEN_A)).status_code == 202
    refused = client.post("/execute", json=request, headers=auth(TOKEN_A))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "too many executions" in refused.json()["detail"]
    assert client.post("/execute", json=request, headers=auth(TOKEN_B)).status_code == 202


def test_a_code_session_autosaves_and_runs_its_saved_code(client, tenants, worker_thread, sandbox):
    created = client.post("/code-sessions", json={"language": "python"}, headers=auth(TOKEN_A))
    assert created.status_code == 201
    session = created.json()
    assert session["status"] == "ACTIVE" and "import pandas" in session["source_code"]
    path = f"/code-sessions/{session['session_id']}"
    for n in range(5):  # typing: many saves, nothing runs
        saved = client.patch(path, json={"source_code": f"print({n})"}, headers=auth(TOKEN_A))
        assert saved.status_code == 200
    assert saved.json()["version"] == 6
    assert sandbox.requests == []
    stale = client.patch(path, json={"source_code": "x", "version": 2}, headers=auth(TOKEN_A))
    assert stale.status_code == 409
    run = client.post(f"{path}/run", headers=auth(TOKEN_A))
    assert run.status_code == 202
    assert run.json()["status"] == "QUEUED"
    execution_id = run.json()["execution_id"]
    worker_thread.sandbox.gate = None
    for _ in range(200):
        polled = client.get(f"/executions/{execution_id}", headers=auth(TOKEN_A)).json()
        if polled["status"] not in ("QUEUED", "RUNNING"):
            break
        threading.Event().wait(0.02)
    assert polled["status"] == "COMPLETED"
    assert polled["session_id"] == session["session_id"]
    assert sandbox.requests[-1].code == "print(4)"
    assert client.get(path, headers=auth(TOKEN_B)).status_code == 404
    assert client.post(f"{path}/run", headers=auth(TOKEN_B)).status_code == 404


def test_unknown_ids_are_404(client, tenants):
    assert client.get("/executions/nope", headers=auth(TOKEN_A)).status_code == 404
    assert (
        client.patch(
            "/code-sessions/nope", json={"source_code": "1"}, headers=auth(TOKEN_A)
        ).status_code
        == 404
    )
    assert client.post("/code-sessions/nope/run", headers=auth(TOKEN_A)).status_code == 404
