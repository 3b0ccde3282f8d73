"""Operations: `GET /health` (liveness), `GET /health/ready` (readiness), `GET /metrics`."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from horizon.api import platform_metrics
from horizon.api.deps import Admin
from horizon.api.health import check_dependencies
from horizon.api.models import Liveness, Readiness

router = APIRouter(tags=["operations"])

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/health", response_model=Liveness)
async def health() -> Liveness:
    """Liveness: 200 whenever the function answers. Calls no dependency, so it is cheap
    enough to poll often and says nothing about the tables and queues (see /health/ready)."""
    return Liveness()


@router.get(
    "/health/ready",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "A dependency failed or timed out"}},
)
async def ready() -> JSONResponse:
    """Readiness: every table, bucket and queue the API uses, checked in parallel under one
    deadline. 200 when all answer; 503 naming those that failed or timed out."""
    results = await run_in_threadpool(check_dependencies)
    failing = sorted(name for name, result in results.items() if result.status != "ok")
    body = Readiness(
        status="not_ready" if failing else "ready",
        checks={name: asdict(result) for name, result in results.items()},
        detail=(
            "failing: " + ", ".join(f"{name} ({results[name].status})" for name in failing)
            if failing
            else None
        ),
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503 if failing else 200)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, admin: Admin) -> PlainTextResponse:
    """Prometheus text (admin key): platform-wide figures from the stores — jobs and
    executions by status, messages in each queue and DLQ (cached 30 s) — then the request
    counts and latency seen by THIS instance since it started."""
    text = platform_metrics.render() + request.app.state.metrics.render()
    return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)
