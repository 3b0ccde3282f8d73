"""Operations: `GET /health` and `GET /metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from horizon.api import platform_metrics
from horizon.api.deps import Admin
from horizon.api.health import check_dependencies
from horizon.api.models import Health

router = APIRouter(tags=["operations"])

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health() -> JSONResponse:
    """200 when every table, the bucket and the queues answer; 503 naming those that do not."""
    checks = await run_in_threadpool(check_dependencies)
    ok = all(result == "ok" for result in checks.values())
    body = Health(status="ok" if ok else "degraded", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, admin: Admin) -> PlainTextResponse:
    """Prometheus text (admin key): platform-wide figures from the stores — jobs and
    executions by status, messages in each queue and DLQ (cached 30 s) — then the request
    counts and latency seen by THIS instance since it started."""
    text = platform_metrics.render() + request.app.state.metrics.render()
    return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)
