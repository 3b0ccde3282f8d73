"""`/health` (liveness, no dependency calls) and `/health/ready` (every dependency, at once)."""

from __future__ import annotations

import threading
from unittest import mock

from horizon import wiring
from horizon.api import health
from horizon.api.health import check_dependencies, dependency_checks


def _resource_keys(spec: wiring.FunctionSpec) -> set[str]:
    resources = {s.key for s in (*wiring.TABLES, *wiring.BUCKETS, *wiring.QUEUES)}
    return {key for key in spec.access if key in resources}


def test_health_is_liveness_and_calls_no_dependency(aws, client):
    with mock.patch.object(health, "check_dependencies") as checks:
        response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    checks.assert_not_called()


def test_ready_checks_every_table_bucket_and_queue_of_the_api(aws, client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert "detail" not in body
    assert {name.split(":", 1)[1] for name in body["checks"]} == _resource_keys(wiring.API_FUNCTION)
    # Each kind is checked by its own service (names as the earlier /health gave them).
    assert {"dynamodb:jobs", "dynamodb:batches", "s3:uploads", "sqs:execute"} <= set(body["checks"])
    for result in body["checks"].values():
        assert result["status"] == "ok"
        assert result["latency_ms"] >= 0
        assert "error" not in result


def test_ready_503_names_the_failed_dependency(aws, client):
    aws.dynamodb.delete_table(TableName=aws.env["ENTRIES_TABLE"])

    response = client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["dynamodb:entries"]["status"] == "error"
    assert body["checks"]["dynamodb:entries"]["error"] == "ResourceNotFoundException"
    assert body["checks"]["dynamodb:jobs"]["status"] == "ok"
    assert body["detail"] == "failing: dynamodb:entries (error)"


def test_a_resource_added_to_the_access_map_is_checked():
    spec = wiring.FunctionSpec(
        key="x",
        handler="functions.x.handler.handler",
        description="",
        timeout_s=1,
        memory_mb=128,
        access={
            "nonprofits": "read",
            "batch_manifests": "write",
            "email": "send",
            "websocket": "manage_connections",
        },
    )
    environ = {"NONPROFITS_TABLE": "t", "BATCH_MANIFESTS_BUCKET": "b", "EMAIL_QUEUE_URL": "u"}

    assert set(dependency_checks(spec, environ)) == {
        "dynamodb:nonprofits",
        "s3:batch_manifests",
        "sqs:email",
    }


def test_a_missing_variable_is_a_failed_check_not_a_crash():
    checks = dependency_checks(wiring.function("notify"), environ={})

    results = check_dependencies(checks)

    assert results["dynamodb:jobs"].status == "error"
    assert results["dynamodb:jobs"].error == "JOBS_TABLE is not set"


def test_checks_run_in_parallel_under_one_deadline():
    release = threading.Event()
    started = threading.Barrier(3, timeout=2)

    def hung() -> None:
        started.wait()
        release.wait(5)

    def quick() -> None:
        started.wait()  # passes only if all three run at once

    try:
        results = check_dependencies({"a": hung, "b": quick, "c": quick}, timeout_s=0.3)
    finally:
        release.set()

    assert results["a"].status == "timeout"
    assert results["a"].latency_ms >= 300
    assert results["b"].status == results["c"].status == "ok"


def test_an_unexpected_exception_is_a_failed_check():
    def broken() -> None:
        raise ValueError("internal detail")

    result = check_dependencies({"x": broken})["x"]

    assert (result.status, result.error) == ("error", "ValueError")


def test_both_health_paths_are_documented_with_their_schemas(client):
    paths = client.get("/openapi.json").json()["paths"]

    assert set(paths["/health"]["get"]["responses"]) == {"200"}
    ready = paths["/health/ready"]["get"]["responses"]
    assert set(ready) == {"200", "503"}
    for status in ("200", "503"):
        schema = ready[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Readiness"}
