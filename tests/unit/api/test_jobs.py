"""GET /api/v1/jobs...: one job, pages of jobs, entries and invalid lines; all owner-scoped."""

import json

import pytest

from functions.api.handler import handler
from horizon.entries import EntryStore, InvalidLine, StoredEntry
from horizon.jobs import JobCounts
from tests.events import load_event
from tests.unit.api.conftest import make_job


def test_get_job_through_a_rest_event(aws, lambda_context):
    event = load_event("api_get_job")
    job_id = event["path"].rsplit("/", 1)[1]
    make_job(job_id=job_id, counts=JobCounts(offset=250, lines=10, valid=8, invalid=2), seq=3)

    response = handler(event, lambda_context)

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["job_id"] == job_id
    assert body["status"] == "queued"
    assert (body["percent"], body["lines"], body["valid"], body["invalid"]) == (25, 10, 8, 2)
    assert "owner" not in body and "lease_owner" not in body and "object_key" not in body


def test_unknown_job_is_404(client):
    response = client.get("/api/v1/jobs/3f2b8c1e-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "job 3f2b8c1e-0000-0000-0000-000000000000 not found",
        "code": "not_found",
        "request_id": response.headers["X-Request-Id"],
    }


def test_another_owners_job_is_404_everywhere(client, tenants):
    job = make_job(owner="tenant-a")
    base = f"/api/v1/jobs/{job.job_id}"

    assert client.get(base, headers=tenants["a"]).status_code == 200
    for path in (base, f"{base}/entries", f"{base}/errors"):
        response = client.get(path, headers=tenants["b"])
        assert response.status_code == 404, path
        assert response.json()["detail"] == f"job {job.job_id} not found"
    listed = client.get("/api/v1/jobs", headers=tenants["b"]).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dG9rZW4="}]
)
def test_missing_or_unknown_token_is_401_when_tokens_are_configured(client, tenants, headers):
    response = client.get("/api/v1/jobs", headers=headers)

    assert response.status_code == 401
    assert "API key" in response.json()["detail"]


def test_list_jobs_pages_with_cursor(client):
    created = {make_job().job_id for _ in range(5)}
    make_job(owner="someone-else")

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/jobs", params=params).json()
        seen += [item["job_id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break

    assert sorted(seen) == sorted(created)
    assert pages >= 3


def _fill(job, valid_lines, invalid_lines):
    store = EntryStore()
    store.put_entries(
        job.owner,
        job.job_id,
        [StoredEntry(line=n, entry={"timestamp": f"t{n}", "line": "x"}) for n in valid_lines],
    )
    store.put_invalid(
        job.owner,
        job.job_id,
        [InvalidLine(line=n, reason="not JSON", raw=f"raw {n}") for n in invalid_lines],
    )


def test_entries_and_errors_page_in_line_order(client):
    valid = [n for n in range(1, 2501) if n % 10]
    invalid = [n for n in range(1, 2501) if not n % 10]
    job = make_job(counts=JobCounts(offset=1000, lines=2500, valid=len(valid), invalid=250))
    _fill(job, valid, invalid)
    base = f"/api/v1/jobs/{job.job_id}"

    lines, cursor = [], None
    while True:
        params = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        body = client.get(f"{base}/entries", params=params).json()
        lines += [item["line"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert lines == valid  # across blocks of 1000 lines, in order, each once
    first = client.get(f"{base}/entries", params={"limit": 1}).json()["items"][0]
    assert first == {"line": 1, "timestamp": "t1"}  # the line number wins over an attribute

    page = client.get(f"{base}/errors", params={"limit": 100}).json()
    assert page["items"][0] == {"line": 10, "reason": "not JSON", "raw": "raw 10"}
    rest = client.get(f"{base}/errors", params={"cursor": page["next_cursor"], "limit": 1000})
    assert [i["line"] for i in page["items"] + rest.json()["items"]] == invalid
    assert rest.json()["next_cursor"] is None


def test_entries_default_limit_and_bounds(client):
    job = make_job(counts=JobCounts(lines=150, valid=150))
    _fill(job, range(1, 151), [])
    base = f"/api/v1/jobs/{job.job_id}/entries"

    body = client.get(base).json()
    assert len(body["items"]) == 100
    assert body["next_cursor"]
    assert client.get(base, params={"limit": 0}).status_code == 422
    assert client.get(base, params={"limit": 1001}).status_code == 422


def test_invalid_cursor_is_422(client):
    job = make_job()

    response = client.get(f"/api/v1/jobs/{job.job_id}/entries", params={"cursor": "%%%"})

    assert response.status_code == 422
    assert response.json() == {
        "detail": "invalid cursor",
        "code": "validation_error",
        "request_id": response.headers["X-Request-Id"],
    }
    assert client.get("/api/v1/jobs", params={"cursor": "bm90LWpzb24"}).status_code == 422
