"""Fixtures of the REST API tests: an app client on moto, tenants, and stored jobs."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi.testclient import TestClient

from horizon.api import create_app
from horizon.clock import now_iso
from horizon.jobs import Job, JobStore
from horizon.settings import reset_settings

TOKEN_A = "token-for-tenant-a"
TOKEN_B = "token-for-tenant-b"
ADMIN_KEY = "admin-key-for-the-unit-tests"
ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture(autouse=True)
def event_loop_for_mangum():
    """Mangum runs the app on the thread's current event loop, as in Lambda's main thread;
    an earlier test's `asyncio.run` leaves none set, so give each test its own."""
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
    """Two tenants with their own tokens; returns the headers of each."""
    monkeypatch.setenv("API_TOKENS", f"{TOKEN_A}=tenant-a,{TOKEN_B}=tenant-b")
    reset_settings()
    return {
        "a": {"Authorization": f"Bearer {TOKEN_A}"},
        "b": {"Authorization": f"Bearer {TOKEN_B}"},
    }


@pytest.fixture
def admin(aws, monkeypatch):
    """Credentials configured (an admin key): every call needs one. Returns its headers."""
    monkeypatch.setenv("HORIZON_ADMIN_KEY", ADMIN_KEY)
    reset_settings()
    yield ADMIN
    reset_settings()


def new_key(client, tenant="tenant-a", tier="free", role="member", **extra) -> dict:
    """Create an API key through the API (needs the `admin` fixture); returns the answer."""
    response = client.post(
        "/api/v1/keys", headers=ADMIN, json={"tenant": tenant, "tier": tier, "role": role, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


def make_job(owner: str = "local", **fields) -> Job:
    """Store a job for `owner` and return it."""
    job_id = fields.pop("job_id", str(uuid.uuid4()))
    stamp = now_iso()
    job = Job(
        owner=owner,
        job_id=job_id,
        file_name="app.jsonl",
        size_bytes=fields.pop("size_bytes", 1000),
        object_key=f"uploads/{owner}/{job_id}/app.jsonl",
        created_at=stamp,
        updated_at=stamp,
        **fields,
    )
    return JobStore().create(job)
