"""/metrics, error mapping, and the docs behind an API Gateway stage."""

import json
import re

from fastapi.testclient import TestClient

from functions.api.handler import handler
from horizon.api import create_app
from horizon.api.stage import stage_root_path
from tests.events import load_event


def test_metrics_counts_requests_by_route_template(client):
    client.get("/api/v1/jobs/abc")
    client.get("/api/v1/jobs/def")
    client.get("/nowhere")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert (
        'horizon_http_requests_total{method="GET",route="/api/v1/jobs/{job_id}",status="404"} 2'
        in text
    )
    assert 'route="unmatched",status="404"} 1' in text
    assert "# TYPE horizon_http_request_duration_seconds histogram" in text
    count = re.search(
        r'horizon_http_request_duration_seconds_count\{method="GET",route="/api/v1/jobs/\{job_id\}"\} (\d+)',
        text,
    )
    assert count and count.group(1) == "2"
    inf = re.search(r'route="/api/v1/jobs/\{job_id\}",le="\+Inf"\} (\d+)', text)
    assert inf and inf.group(1) == "2"


def test_unexpected_error_is_500_without_stack_trace(aws, caplog):
    app = create_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals at /var/task/horizon/x.py line 3")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
        metrics = client.get("/metrics").text

    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal error"
    assert body["request_id"]
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "secret internals" in caplog.text  # logged server-side with the trace
    assert 'route="/boom",status="500"} 1' in metrics


def test_dependency_failure_is_503(aws, client):
    aws.dynamodb.delete_table(TableName=aws.env["JOBS_TABLE"])

    response = client.get("/api/v1/jobs")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "could not list jobs",
        "code": "dependency_unavailable",
        "request_id": response.headers["X-Request-Id"],
    }


def test_docs_behind_the_stage_link_to_the_staged_openapi(aws, lambda_context):
    event = load_event("api_get_docs")

    response = handler(event, lambda_context)

    assert response["statusCode"] == 200
    assert "'/prod/openapi.json'" in response["body"] or '"/prod/openapi.json"' in response["body"]

    event = load_event("api_get_docs")
    event["path"] = "/openapi.json"
    event["pathParameters"] = {"proxy": "openapi.json"}
    event["requestContext"]["path"] = "/prod/openapi.json"
    spec = json.loads(handler(event, lambda_context)["body"])
    assert spec["servers"] == [{"url": "/prod"}]
    assert "/api/v1/jobs/{job_id}" in spec["paths"]


def test_docs_locally_have_no_prefix(client):
    assert (
        "'/openapi.json'" in client.get("/docs").text
        or '"/openapi.json"' in client.get("/docs").text
    )
    assert client.get("/openapi.json").status_code == 200


def test_stage_root_path_only_for_execute_api_domains():
    event = load_event("api_get_docs")
    assert stage_root_path(event) == "/prod"
    event["requestContext"]["domainName"] = "api.example.org"
    assert stage_root_path(event) == ""
    event["requestContext"]["domainName"] = "localhost"
    assert stage_root_path(event) == ""
    assert stage_root_path(None) == ""
