"""API keys, tiers and tenants through the local stack, with real HTTP and WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.integration.clients import jsonl, upload, wait_for_job
from tests.integration.conftest import RunningStack, start_local_stack

pytestmark = pytest.mark.integration

ADMIN_KEY = "an-admin-key-for-the-integration-tests"
PASSWORD = "Corr3ct-Horse-Battery!"


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    # The burst out of the way, so that the 101st answer is the daily quota's, whatever the
    # machine's speed (the daily quota is the default, 100).
    with start_local_stack(HORIZON_ADMIN_KEY=ADMIN_KEY, FREE_BURST_PER_S="100000") as running:
        yield running


def create_key(stack: RunningStack, tenant: str, tier: str = "free", role: str = "member") -> dict:
    response = httpx.post(
        f"{stack.rest_url}/api/v1/keys",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        json={"tenant": tenant, "tier": tier, "role": role},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_free_key_gets_100_answers_then_429_with_retry_after(stack: RunningStack) -> None:
    key = create_key(stack, "free-tenant")["key"]
    with httpx.Client(base_url=stack.rest_url, headers={"X-API-Key": key}, timeout=10) as client:
        answers = [client.get("/api/v1/jobs") for _ in range(101)]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * 100 + [429], statuses
    assert answers[0].headers["X-RateLimit-Remaining"] == "99"
    assert answers[99].headers["X-RateLimit-Remaining"] == "0"
    refused = answers[100]
    assert refused.headers["X-RateLimit-Limit"] == "100"
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    assert "free tier daily quota" in refused.json()["detail"]


def test_another_tenant_sees_none_of_the_jobs(stack: RunningStack) -> None:
    alice = create_key(stack, "alice", tier="pro")["key"]
    bob = create_key(stack, "bob", tier="pro")["key"]
    created = upload(
        stack.rest_url, "a.jsonl", jsonl([{"timestamp": "2026-12-06T10:00:00Z"}]), alice
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    assert wait_for_job(stack.rest_url, job_id, token=alice)["status"] == "completed"
    for path in (f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{job_id}/entries"):
        response = httpx.get(f"{stack.rest_url}{path}", headers={"X-API-Key": bob}, timeout=10)
        assert response.status_code == 404, path
    listed = httpx.get(f"{stack.rest_url}/api/v1/jobs", headers={"X-API-Key": bob}, timeout=10)
    assert listed.json()["items"] == []


def test_revocation_holds_from_the_next_call(stack: RunningStack) -> None:
    created = create_key(stack, "carol")
    headers = {"X-API-Key": created["key"]}
    assert httpx.get(f"{stack.rest_url}/api/v1/jobs", headers=headers).status_code == 200
    revoked = httpx.delete(
        f"{stack.rest_url}/api/v1/keys/{created['key_id']}", headers={"X-API-Key": ADMIN_KEY}
    )
    assert revoked.status_code == 200
    assert httpx.get(f"{stack.rest_url}/api/v1/jobs", headers=headers).status_code == 401


def test_a_reader_cannot_run_code(stack: RunningStack) -> None:
    headers = {"X-API-Key": create_key(stack, "dave", role="reader")["key"]}
    refused = httpx.post(
        f"{stack.rest_url}/execute", headers=headers, json={"language": "python", "code": "1"}
    )
    assert refused.status_code == 403
    assert httpx.get(f"{stack.rest_url}/api/v1/jobs", headers=headers).status_code == 200


def test_without_a_credential_only_health_and_docs_answer(stack: RunningStack) -> None:
    assert httpx.get(f"{stack.rest_url}/api/v1/jobs").status_code == 401
    assert httpx.get(f"{stack.rest_url}/health").status_code == 200
    assert httpx.get(f"{stack.rest_url}/openapi.json").status_code == 200


def test_the_websocket_takes_a_key_at_connect(stack: RunningStack) -> None:
    key = create_key(stack, "erin")["key"]

    async def scenario() -> dict:
        async with websockets.connect(f"{stack.ws_url}?token={key}", open_timeout=10) as ws:
            await ws.send(json.dumps({"action": "ping"}))
            async with asyncio.timeout(10):
                return json.loads(await ws.recv())

    assert asyncio.run(scenario())["type"] == "pong"

    async def refused() -> None:
        async with websockets.connect(f"{stack.ws_url}?token=hzn_nope", open_timeout=10):
            pass

    with pytest.raises(websockets.InvalidStatus) as raised:
        asyncio.run(refused())
    assert raised.value.response.status_code == 401


def sign_in(stack: RunningStack, username: str, tenant: str) -> dict:
    """Create a person in the stack's user pool as an administrator would, and sign them in
    with USER_PASSWORD_AUTH; returns Cognito's AuthenticationResult (IdToken, AccessToken, ...)."""
    cognito = stack.client("cognito-idp")
    pool_id = stack.env["COGNITO_USER_POOL_ID"]
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        UserAttributes=[{"Name": "custom:tenant", "Value": tenant}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True
    )
    return cognito.initiate_auth(
        ClientId=stack.env["COGNITO_CLIENT_ID"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]


def test_a_person_signed_in_with_cognito_sees_only_their_tenant(stack: RunningStack) -> None:
    id_token = sign_in(stack, "frank", "franks-shop")["IdToken"]
    line = jsonl([{"timestamp": "2026-12-06T10:00:00Z"}])
    mine = upload(stack.rest_url, "mine.jsonl", line, id_token)
    assert mine.status_code == 202, mine.text
    theirs = upload(stack.rest_url, "theirs.jsonl", line, create_key(stack, "grace")["key"])
    assert theirs.status_code == 202, theirs.text

    bearer = {"Authorization": f"Bearer {id_token}"}
    listed = httpx.get(f"{stack.rest_url}/api/v1/jobs", headers=bearer, timeout=10)
    assert listed.status_code == 200, listed.text
    assert [job["job_id"] for job in listed.json()["items"]] == [mine.json()["job_id"]]

    header, payload, signature = id_token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    tampered = {"Authorization": f"Bearer {header}.{payload}.{flipped}"}
    refused = httpx.get(f"{stack.rest_url}/api/v1/jobs", headers=tampered, timeout=10)
    assert refused.status_code == 401
    assert "signature" in refused.json()["detail"]
