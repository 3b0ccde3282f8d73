"""POST/GET /graphql: jobs and analytics queries, owner scoping, request and resolver errors."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from functions.api.handler import handler
from horizon.api import create_app
from horizon.jobs import JobCounts, JobStatus
from tests.events import load_event
from tests.unit.analytics.conftest import create_job, ingest_service, jsonl, plenty
from tests.unit.api.conftest import make_job

ROWS = [
    {"timestamp": "2026-11-22T10:00:00Z", "event_type": "login_failure", "response_time_ms": 5},
    {"timestamp": "2026-11-22T10:00:01Z", "event_type": "login_failure", "response_time_ms": 7},
    {"timestamp": "2026-11-22T10:07:00Z", "event_type": "login_success", "response_time_ms": 30},
]
JOB_FIELDS = (
    "id status percent progress counts { lines valid invalid } fileName createdAt finishedAt error"
)
QUERY = """query Ask($input: QueryInput!) {
  query(input: $input) { metric field value n source exact windows { start end count value } }
}"""


@pytest.fixture
def api(aws, tenants):
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def job_a(aws, tenants) -> str:
    """A completed ingest of ROWS for tenant-a."""
    job = create_job(aws, jsonl(ROWS), owner="tenant-a")
    ingest_service().run("tenant-a", job.job_id, plenty)
    return job.job_id


def gql(api, headers, document, variables=None):
    return api.post("/graphql", json={"query": document, "variables": variables}, headers=headers)


def test_job_by_id_matches_rest(api, tenants) -> None:
    job = make_job(
        "tenant-a",
        status=JobStatus.PROCESSING,
        size_bytes=1000,
        counts=JobCounts(offset=250, lines=10, valid=8, invalid=2),
    )
    response = gql(api, tenants["a"], f'{{ job(id: "{job.job_id}") {{ {JOB_FIELDS} }} }}')
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    rest = api.get(f"/api/v1/jobs/{job.job_id}", headers=tenants["a"]).json()
    assert body["data"]["job"] == {
        "id": job.job_id,
        "status": "processing",
        "percent": 25,
        "progress": 25,
        "counts": {"lines": 10, "valid": 8, "invalid": 2},
        "fileName": "app.jsonl",
        "createdAt": rest["created_at"],
        "finishedAt": None,
        "error": None,
    }
    assert (rest["percent"], rest["lines"], rest["valid"]) == (25, 10, 8)


def test_another_owners_job_is_null_with_not_found(api, tenants) -> None:
    job = make_job("tenant-a")
    document = f'{{ job(id: "{job.job_id}") {{ id status fileName }} }}'
    response = gql(api, tenants["b"], document)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"job": None}
    assert body["errors"][0]["message"] == f"job {job.job_id} not found"
    assert body["errors"][0]["path"] == ["job"]
    assert "Traceback" not in response.text
    # And its own owner sees it; tenant-b's listing does not include it.
    assert gql(api, tenants["a"], document).json()["data"]["job"]["id"] == job.job_id
    listed = gql(api, tenants["b"], "{ jobs { items { id } nextCursor } }").json()
    assert listed == {"data": {"jobs": {"items": [], "nextCursor": None}}}


def test_jobs_are_paged_with_the_cursor(api, tenants) -> None:
    made = {make_job("tenant-a").job_id for _ in range(3)}
    make_job("tenant-b")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        response = gql(
            api,
            tenants["a"],
            "query Page($c: String) { jobs(limit: 2, cursor: $c) { items { id } nextCursor } }",
            {"c": cursor},
        )
        page = response.json()["data"]["jobs"]
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)
    bad = gql(api, tenants["a"], "{ jobs(limit: 0) { items { id } } }").json()
    assert bad["data"] == {"jobs": None}
    assert "limit must be between 1 and 100" in bad["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"metric": "avg", "field": "response_time_ms"},
        {"metric": "count", "filter": {"event_type": "login_failure"}},
        {"metric": "p95", "field": "response_time_ms", "filter": {"response_time_ms": {"gt": 5}}},
        {"metric": "count", "window": {"size": "5m", "mode": "tumbling"}, "top": 2},
    ],
)
def test_query_equals_the_rest_answer(api, tenants, job_a, body) -> None:
    rest = api.post("/api/v1/query", json={**body, "job_ids": [job_a]}, headers=tenants["a"])
    assert rest.status_code == 200
    graph_input = {**body, "jobIds": [job_a]}
    response = gql(api, tenants["a"], QUERY, {"input": graph_input})
    assert response.status_code == 200
    answer = response.json()
    assert "errors" not in answer, answer
    expected = {
        key: rest.json()[key]
        for key in ("metric", "field", "value", "n", "source", "exact", "windows")
    }
    assert answer["data"]["query"] == expected


def test_query_with_inline_literals_and_relative_to(api, tenants, job_a) -> None:
    document = f"""{{ query(input: {{jobIds: ["{job_a}"], metric: "count",
        relativeTo: {{filter: {{event_type: "login_failure"}}, duration: "1m"}}}})
        {{ value n rows {{ anchor start end count value }} }} }}"""
    rest = api.post(
        "/api/v1/query",
        json={
            "job_ids": [job_a],
            "metric": "count",
            "relative_to": {"filter": {"event_type": "login_failure"}, "duration": "1m"},
        },
        headers=tenants["a"],
    ).json()
    answer = gql(api, tenants["a"], document).json()
    assert "errors" not in answer, answer
    # One row per login_failure anchor: events in [anchor, anchor + 1m).
    assert [row["count"] for row in answer["data"]["query"]["rows"]] == [2, 1]
    assert answer["data"]["query"]["rows"] == rest["rows"]
    assert (answer["data"]["query"]["value"], answer["data"]["query"]["n"]) == (
        rest["value"],
        rest["n"],
    )


def test_query_of_another_owners_job_is_not_found(api, tenants, job_a) -> None:
    response = gql(api, tenants["b"], QUERY, {"input": {"jobIds": [job_a], "metric": "count"}})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"query": None}
    assert body["errors"][0]["message"] == f"job {job_a} not found"


@pytest.mark.parametrize(
    ("graph_input", "reason"),
    [
        ({"metric": "median", "field": "response_time_ms"}, "unknown metric 'median'"),
        ({"metric": "avg", "field": "endpoint"}, "field 'endpoint' is not numeric"),
        ({"metric": "count", "window": {"size": "0m"}}, "window size must be a positive"),
        ({"metric": "count", "filter": {"http_status": {"between": 1}}}, "unknown operator"),
    ],
)
def test_bad_query_input_gives_the_rest_reason(api, tenants, job_a, graph_input, reason) -> None:
    rest = api.post(f"/api/v1/jobs/{job_a}/query", json=graph_input, headers=tenants["a"])
    assert rest.status_code == 422
    assert reason in str(rest.json()["detail"])
    response = gql(api, tenants["a"], QUERY, {"input": {**graph_input, "jobIds": [job_a]}})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"query": None}
    error = body["errors"][0]
    assert reason in error["message"]
    assert error["path"] == ["query"]
    assert error["extensions"] == {"status": 422}
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "payload",
    [
        {"query": "{ job(id: "},  # syntax error
        {"query": '{ job(id: "x") { nope } }'},  # unknown field
        {"query": "{ job { id } }"},  # missing required argument
        {"query": QUERY, "variables": {"input": {"metric": 3}}},  # variable of the wrong type
        {"query": QUERY},  # required variable missing
        {"query": ""},
        {"variables": {}},
        {"query": "{ jobs { nextCursor } }", "variables": [1]},
    ],
)
def test_malformed_request_is_400(api, tenants, payload) -> None:
    response = api.post("/graphql", json=payload, headers=tenants["a"])
    assert response.status_code == 400
    body = response.json()
    assert body["data"] is None
    assert body["errors"] and all(error["message"] for error in body["errors"])


def test_body_that_is_not_json_is_400(api, tenants) -> None:
    headers = {**tenants["a"], "Content-Type": "application/json"}
    response = api.post("/graphql", content=b"{not json", headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "the body is not valid JSON"


def test_token_is_required_as_for_rest(api, tenants) -> None:
    response = api.post("/graphql", json={"query": "{ jobs { nextCursor } }"})
    assert response.status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (
        api.post("/graphql", json={"query": "{ jobs { nextCursor } }"}, headers=wrong).status_code
        == 401
    )


def test_get_with_a_query_string(api, tenants, job_a) -> None:
    response = api.get(
        "/graphql",
        params={"query": "query J($id: ID!) { job(id: $id) { status counts { valid } } }",
                "variables": f'{{"id": "{job_a}"}}'},
        headers=tenants["a"],
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {"data": {"job": {"status": "completed", "counts": {"valid": 3}}}}


def test_graphql_through_a_rest_event(aws, lambda_context) -> None:
    """Behind API Gateway's proxy resource, as deployed (no tokens: the development owner)."""
    job = make_job("local", status=JobStatus.COMPLETED, counts=JobCounts(lines=4, valid=3))
    event = load_event("analytics_api_query")
    event["path"] = "/graphql"
    event["pathParameters"] = {"proxy": "graphql"}
    event["requestContext"]["path"] = "/prod/graphql"
    document = f'{{ job(id: "{job.job_id}") {{ status progress counts {{ lines valid }} }} }}'
    event["body"] = json.dumps({"query": document})

    response = handler(event, lambda_context)

    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"]) == {
        "data": {
            "job": {"status": "completed", "progress": 100, "counts": {"lines": 4, "valid": 3}}
        }
    }
