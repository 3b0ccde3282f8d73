"""Dependency checks for `GET /health`: every table, the uploads bucket and the queues."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from horizon import aws
from horizon.dynamo import AWS_ERRORS, error_code
from horizon.executions.settings import get_execution_settings
from horizon.settings import get_settings

logger = logging.getLogger(__name__)

# API Gateway gives up after 29 s; a health check must answer well before, even when a
# dependency hangs (the shared clients retry, so checks run in threads under one deadline).
DEFAULT_TIMEOUT_S = 3.0


def _checks() -> dict[str, Callable[[], Any]]:
    settings, executions = get_settings(), get_execution_settings()
    dynamodb, s3, sqs = aws.client("dynamodb"), aws.client("s3"), aws.client("sqs")
    checks: dict[str, Callable[[], Any]] = {}
    for name, table in (
        ("jobs", settings.jobs_table),
        ("entries", settings.entries_table),
        ("connections", settings.connections_table),
        ("executions", executions.executions_table),
    ):
        checks[f"dynamodb:{name}"] = lambda table=table: dynamodb.describe_table(TableName=table)
    checks["s3:uploads"] = lambda: s3.head_bucket(Bucket=settings.uploads_bucket)
    for name, url in (
        ("ingest", settings.ingest_queue_url),
        ("notify", settings.notify_queue_url),
        ("execute", executions.execute_queue_url),
    ):
        checks[f"sqs:{name}"] = lambda url=url: sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"]
        )
    return checks


def _run(check: Callable[[], Any]) -> str:
    try:
        check()
    except AWS_ERRORS as error:
        return f"error: {error_code(error) or type(error).__name__}"
    return "ok"


def check_dependencies(timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, str]:
    """Run every check at once; return name → "ok" | "error: <code>" | "timeout"."""
    checks = _checks()
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="health")
    try:
        futures = {name: pool.submit(_run, check) for name, check in checks.items()}
        wait(futures.values(), timeout=timeout_s)
        results = {
            name: future.result() if future.done() else "timeout"
            for name, future in futures.items()
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung call must not hold the answer
    for name, result in results.items():
        if result != "ok":
            logger.warning("health check %s: %s", name, result)
    return results
