"""Every error answer has one shape: {"detail", "code", "request_id"}, the id being the
answer's X-Request-Id; a 422 adds `errors` with locations; a 5xx shows no internals."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from horizon.api import create_app
from horizon.api.errors import CODE_BY_STATUS, STATUS_BY_ERROR, ErrorBody, ErrorCode
from horizon.settings import reset_settings
from tests.unit.api.conftest import make_job, new_key


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    """Assert `response` is the error answer `status`/`code` in the one shape; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert {"detail", "code", "request_id"} <= set(body) <= {*ErrorBody.model_fields}
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["code"] == code
    assert body["request_id"] == response.headers["X-Request-Id"]
    ErrorBody.model_validate(body)
    return body


def test_every_mapped_status_has_a_code():
    for _, status in STATUS_BY_ERROR:
        assert status in CODE_BY_STATUS
    assert len(set(CODE_BY_STATUS.values())) == len(CODE_BY_STATUS)  # one code, one meaning


def test_401_without_a_credential(client, admin):
    response = client.get("/api/v1/jobs")
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_403_for_a_role_that_may_not(client, admin):
    member = {"X-API-Key": new_key(client)["key"]}
    assert_error(client.get("/api/v1/keys", headers=member), 403, "forbidden")


def test_404_of_the_domain_and_of_the_router(client):
    missing = assert_error(client.get("/api/v1/jobs/nope"), 404, "not_found")
    assert missing["detail"] == "job nope not found"
    # Starlette's own 404 (no such path) takes the same shape.
    assert assert_error(client.get("/no/such/path"), 404, "not_found")["detail"] == "Not Found"


def test_405_keeps_its_allow_header(client):
    response = client.delete("/api/v1/jobs")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_413_too_large(client, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "10")
    reset_settings()
    files = {"file": ("app.jsonl", b'{"timestamp": "2026-01-01T00:00:00Z"}\n', "text/plain")}
    response = client.post("/api/v1/files/upload", files=files)
    assert_error(response, 413, "payload_too_large")


def test_422_of_fastapi_names_each_problem_with_its_location(client):
    response = client.post("/execute", json={"language": "python", "timeout_s": "soon"})
    body = assert_error(response, 422, "validation_error")
    locations = {tuple(problem["loc"]) for problem in body["errors"]}
    assert {("body", "code"), ("body", "timeout_s")} <= locations
    assert "body.code: Field required" in body["detail"]
    assert "soon" not in response.text  # the input is never echoed


def test_422_of_the_domain_is_a_sentence(client):
    job = make_job()
    response = client.get(f"/api/v1/jobs/{job.job_id}/entries", params={"cursor": "%%%"})
    body = assert_error(response, 422, "validation_error")
    assert body["detail"] == "invalid cursor" and "errors" not in body


def test_422_detail_names_the_first_problems_only(client):
    response = client.post("/nonprofits", json=[1] * 3)  # not an object: one problem
    assert_error(response, 422, "validation_error")
    many = client.post("/api/v1/keys", json={f"extra{i}": i for i in range(9)})
    body = assert_error(many, 422, "validation_error")
    assert len(body["errors"]) > 5 and body["detail"].endswith("more)")


def test_429_with_retry_after(client, admin, monkeypatch):
    monkeypatch.setenv("FREE_REQUESTS_PER_DAY", "1")
    reset_settings()
    headers = {"X-API-Key": new_key(client)["key"]}
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    refused = client.get("/api/v1/jobs", headers=headers)
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1


def test_503_when_a_dependency_fails(aws, client):
    aws.dynamodb.delete_table(TableName=aws.env["JOBS_TABLE"])
    body = assert_error(client.get("/api/v1/jobs"), 503, "dependency_unavailable")
    assert body["detail"] == "could not list jobs"


def test_500_shows_no_internals_and_quotes_the_callers_request_id(aws):
    app = create_app()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals at /var/task/horizon/x.py line 3")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-Id": "trace-7"})

    body = assert_error(response, 500, "internal_error")
    assert body == {"detail": "internal error", "code": "internal_error", "request_id": "trace-7"}


@pytest.mark.parametrize("code", list(ErrorCode))
def test_codes_are_snake_case(code):
    assert code.value.isidentifier() and code.value == code.value.lower()
