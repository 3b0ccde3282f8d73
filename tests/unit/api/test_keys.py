"""API keys, roles and tiers through the REST API (in-process app on moto)."""

from __future__ import annotations

import pytest

from horizon.settings import reset_settings
from tests.unit.api.conftest import ADMIN, make_job, new_key


def test_once_an_admin_key_is_set_every_call_needs_a_credential(client, admin):
    response = client.get("/api/v1/jobs")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_a_key_is_shown_once_and_listed_without_its_secret(client, admin):
    created = new_key(client, name="ci")
    assert created["key"].startswith(f"hzn_{created['key_id']}_")
    assert {created["tenant"], created["tier"], created["role"]} == {"tenant-a", "free", "member"}
    listed = client.get("/api/v1/keys", headers=ADMIN).json()
    assert [key["key_id"] for key in listed["keys"]] == [created["key_id"]]
    shown = listed["keys"][0]
    assert created["key"] not in str(listed)
    assert not {"key", "digest", "salt"} & set(shown)
    assert shown["name"] == "ci" and shown["revoked_at"] is None


def test_the_key_is_not_stored(client, admin, aws):
    from horizon.settings import get_settings

    created = new_key(client)
    items = aws.dynamodb.scan(TableName=get_settings().keys_table)["Items"]
    assert created["key"] not in str(items)
    assert created["key"].split("_", 2)[2] not in str(items)


@pytest.mark.parametrize("style", ["X-API-Key", "Authorization"])
def test_a_key_travels_in_either_header(client, admin, style):
    key = new_key(client)["key"]
    headers = {"X-API-Key": key} if style == "X-API-Key" else {"Authorization": f"Bearer {key}"}
    response = client.get("/api/v1/jobs", headers=headers)
    assert response.status_code == 200
    assert int(response.headers["X-RateLimit-Remaining"]) < int(
        response.headers["X-RateLimit-Limit"]
    )
    assert int(response.headers["X-RateLimit-Reset"]) > 0


@pytest.mark.parametrize("mangle", [lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), str.upper])
def test_a_tampered_key_is_refused(client, admin, mangle):
    key = new_key(client)["key"]
    assert client.get("/api/v1/jobs", headers={"X-API-Key": mangle(key)}).status_code == 401


def test_a_revoked_key_is_refused_from_its_next_call(client, admin):
    created = new_key(client)
    headers = {"X-API-Key": created["key"]}
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    revoked = client.delete(f"/api/v1/keys/{created['key_id']}", headers=ADMIN)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    assert client.get("/api/v1/jobs", headers=headers).status_code == 401
    assert client.delete("/api/v1/keys/0123456789abcdef", headers=ADMIN).status_code == 404


def test_keys_are_managed_by_admins_only(client, admin):
    member = {"X-API-Key": new_key(client, role="member")["key"]}
    for response in (
        client.get("/api/v1/keys", headers=member),
        client.post("/api/v1/keys", headers=member, json={"tenant": "x", "tier": "pro"}),
    ):
        assert response.status_code == 403
        assert "admin" in response.json()["detail"]


def test_a_reader_reads_but_does_not_create_or_run(client, admin):
    reader = {"X-API-Key": new_key(client, role="reader")["key"]}
    assert client.get("/api/v1/jobs", headers=reader).status_code == 200
    refused = client.post("/execute", headers=reader, json={"language": "python", "code": "1"})
    assert refused.status_code == 403
    assert "reader" in refused.json()["detail"]
    upload = client.post(
        "/api/v1/files/upload", headers=reader, files={"file": ("a.jsonl", b"{}", "text/plain")}
    )
    assert upload.status_code == 403
    # Asking a question is a read, although it is a POST.
    asked = client.post(
        "/api/v1/query", headers=reader, json={"job_ids": ["nope"], "metric": "count"}
    )
    assert asked.status_code != 403


def test_tenants_see_only_their_own_jobs(client, admin):
    job = make_job(owner="tenant-a")
    mine = {"X-API-Key": new_key(client, tenant="tenant-a")["key"]}
    theirs = {"X-API-Key": new_key(client, tenant="tenant-b")["key"]}
    assert client.get(f"/api/v1/jobs/{job.job_id}", headers=mine).status_code == 200
    assert client.get(f"/api/v1/jobs/{job.job_id}", headers=theirs).status_code == 404
    assert client.get("/api/v1/jobs", headers=theirs).json()["items"] == []


def test_the_daily_quota_then_429_with_retry_after(client, admin, monkeypatch):
    monkeypatch.setenv("FREE_REQUESTS_PER_DAY", "3")
    reset_settings()
    headers = {"X-API-Key": new_key(client)["key"]}
    answers = [client.get("/api/v1/jobs", headers=headers) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
    refused = answers[3]
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    assert "free tier daily quota" in refused.json()["detail"]
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_the_burst_limit_then_429(client, admin, monkeypatch):
    monkeypatch.setenv("PRO_BURST_PER_S", "2")
    reset_settings()
    headers = {"X-API-Key": new_key(client, tier="pro")["key"]}
    statuses = [client.get("/api/v1/jobs", headers=headers).status_code for _ in range(6)]
    # Within one second two pass; a window boundary may let two more through.
    assert statuses.count(429) >= 2
    refused = next(
        answer
        for answer in (client.get("/api/v1/jobs", headers=headers) for _ in range(3))
        if answer.status_code == 429
    )
    assert refused.headers["Retry-After"] == "1"
    assert "burst" in refused.json()["detail"]


def test_errors_carry_the_rate_limit_headers_too(client, admin):
    headers = {"X-API-Key": new_key(client)["key"]}
    response = client.get("/api/v1/jobs/not-a-job", headers=headers)
    assert response.status_code in (404, 422)
    assert "X-RateLimit-Remaining" in response.headers


def test_bad_key_requests_are_422(client, admin):
    for body in (
        {"tenant": "a/b", "tier": "free"},
        {"tenant": "a", "tier": "gold"},
        {"tenant": "a", "tier": "free", "role": "owner"},
        {"tenant": "a", "tier": "free", "extra": 1},
    ):
        assert client.post("/api/v1/keys", headers=ADMIN, json=body).status_code == 422


def test_without_any_credential_configured_the_development_tenant_answers(client):
    response = client.get("/api/v1/jobs")
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "1000"


def test_in_aws_the_admin_key_comes_from_its_generated_secret(client, aws, monkeypatch):
    import boto3

    from horizon import tenancy

    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="admin-key", SecretString='{"key": "from-the-secret-0123"}')[
        "ARN"
    ]
    monkeypatch.setenv("HORIZON_ADMIN_KEY_SECRET_ARN", arn)
    monkeypatch.setattr(tenancy, "_secret_cache", {})
    reset_settings()
    assert client.get("/api/v1/keys").status_code == 401
    listed = client.get("/api/v1/keys", headers={"X-API-Key": "from-the-secret-0123"})
    assert listed.status_code == 200
    assert client.get("/api/v1/keys", headers={"X-API-Key": "wrong"}).status_code == 401
