"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from horizon.api import console, errors, openapi
from horizon.api.cors import SettingsCorsMiddleware
from horizon.api.metrics import MetricsMiddleware, Registry
from horizon.api.ratelimit_headers import RateLimitHeadersMiddleware
from horizon.api.request_log import RequestLogMiddleware
from horizon.api.routers import (
    batches,
    email_jobs,
    executions,
    files,
    graphql,
    jobs,
    keys,
    ops,
    query,
)
from horizon.api.security_headers import SecurityHeadersMiddleware
from horizon.api.stage import StageRootPathMiddleware


def create_app() -> FastAPI:
    """Build the REST API. Reads no settings and makes no clients: those happen per request,
    lazily, so tests and the local stack can configure the environment first."""
    app = FastAPI(
        title="Event Horizon",
        version="0.1.0",
        description=(
            "Serverless jobs: upload JSON Lines logs, follow their ingest, read entries; "
            "run code in a sandbox."
        ),
    )
    app.state.metrics = Registry()
    app.include_router(files.router)
    app.include_router(jobs.router)
    app.include_router(ops.router)
    app.include_router(query.router)
    app.include_router(graphql.router)
    app.include_router(executions.router)
    app.include_router(keys.router)
    app.include_router(batches.router)
    app.include_router(email_jobs.router)
    console.install(app)
    # add_middleware wraps: the last added runs first. Metrics see every response, including
    # the 500s the internal-error middleware writes and the preflights CORS answers; CORS and
    # security headers go on every answer, errors included; the request id on all of them.
    errors.install(app)
    openapi.install(app)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(StageRootPathMiddleware)
    app.add_middleware(SettingsCorsMiddleware)
    app.add_middleware(MetricsMiddleware, registry=app.state.metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestLogMiddleware)
    return app
