"""Platform-wide figures for `GET /metrics`, read from the authoritative stores.

Unlike the request counters (per Lambda instance), these are the platform's own state: how
many jobs and executions are in each status, whatever instance served them, and how many
messages wait in each work queue and its DLQ. Counting by status reads every record's status
(a Scan projected to that one attribute, paged, at most `MAX_ITEMS_PER_FIGURE` items), so the
answer is cached for `CACHE_S` seconds per instance: scrape every minute, not every second.
Past the cap a figure says so (`horizon_figure_truncated`), rather than under-count silently.

A capability adds its figures by appending one function to `FIGURES`: it returns Prometheus
lines (`gauge_lines` helps) and may use `count_by_status`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from horizon import aws, wiring
from horizon.dynamo import AWS_ERRORS
from horizon.executions.settings import get_execution_settings
from horizon.settings import get_settings

CACHE_S = 30.0
MAX_ITEMS_PER_FIGURE = 200_000
_cache: dict[str, Any] = {"at": 0.0, "text": ""}
_lock = threading.Lock()


def count_by_status(
    table: str, filter_expression: str | None = None, values: dict[str, Any] | None = None
) -> tuple[Counter[str], bool]:
    """Count a table's items by their `status` attribute.

    Returns:
        The counts, and whether the cap stopped the count early.
    """
    client = aws.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "#status",
        "ExpressionAttributeNames": {"#status": "status"},
    }
    if filter_expression:
        request["FilterExpression"] = filter_expression
        request["ExpressionAttributeValues"] = values or {}
    counts: Counter[str] = Counter()
    seen = 0
    while True:
        page = client.scan(**request)
        for item in page.get("Items", []):
            status = item.get("status", {}).get("S")
            if status:
                counts[status] += 1
        seen += page.get("ScannedCount", 0)
        last = page.get("LastEvaluatedKey")
        if not last:
            return counts, False
        if seen >= MAX_ITEMS_PER_FIGURE:
            return counts, True
        request["ExclusiveStartKey"] = last


def gauge_lines(
    name: str, help_text: str, values: dict[tuple[tuple[str, str], ...], int]
) -> list[str]:
    """Prometheus lines of a gauge: `values` maps label pairs to a value."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in sorted(values.items()):
        text = ",".join(f'{key}="{label}"' for key, label in labels)
        lines.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")
    return lines


def _status_figure(name: str, what: str, counts: Counter[str], truncated: bool) -> list[str]:
    lines = gauge_lines(
        name, f"{what} by status, platform-wide", {(("status", s),): n for s, n in counts.items()}
    )
    if truncated:
        lines.append(f'horizon_figure_truncated{{figure="{name}"}} 1')
    return lines


def jobs_by_status() -> list[str]:
    counts, truncated = count_by_status(get_settings().jobs_table)
    return _status_figure("horizon_jobs", "Ingest jobs", counts, truncated)


def executions_by_status() -> list[str]:
    counts, truncated = count_by_status(
        get_execution_settings().executions_table,
        "begins_with(pk, :prefix)",
        {":prefix": {"S": "EXEC#"}},
    )
    return _status_figure("horizon_executions", "Code executions", counts, truncated)


def queue_depths() -> list[str]:
    """Messages waiting (and in flight) in every work queue of the wiring and its DLQ."""
    sqs = aws.client("sqs")
    values: dict[tuple[tuple[str, str], ...], int] = {}
    for spec in wiring.QUEUES:
        url = os.environ.get(spec.env)  # set for every queue of the wiring (CDK, local)
        if not url:
            continue
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "RedrivePolicy",
            ],
        )["Attributes"]
        values[(("queue", spec.key), ("state", "waiting"))] = int(
            attributes["ApproximateNumberOfMessages"]
        )
        values[(("queue", spec.key), ("state", "in_flight"))] = int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        dlq_url = _dlq_url(sqs, attributes.get("RedrivePolicy"))
        if dlq_url:
            dlq = sqs.get_queue_attributes(
                QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            values[(("queue", wiring.dead_letter_key(spec.key)), ("state", "waiting"))] = int(
                dlq["ApproximateNumberOfMessages"]
            )
    return gauge_lines("horizon_queue_messages", "Messages in each queue", values)


def _dlq_url(sqs: Any, redrive_policy: str | None) -> str | None:
    if not redrive_policy:
        return None
    arn = json.loads(redrive_policy).get("deadLetterTargetArn", "")
    name = arn.rsplit(":", 1)[-1]
    return sqs.get_queue_url(QueueName=name)["QueueUrl"] if name else None


FIGURES: list[Callable[[], list[str]]] = [jobs_by_status, executions_by_status, queue_depths]


def render(now: Callable[[], float] = time.monotonic) -> str:
    """Every figure as Prometheus text, cached for `CACHE_S` seconds; a figure whose store
    fails is left out and counted in `horizon_figure_errors`."""
    with _lock:
        if _cache["text"] and now() - _cache["at"] < CACHE_S:
            return str(_cache["text"])
    lines: list[str] = []
    errors = 0
    for figure in FIGURES:
        try:
            lines += figure()
        except AWS_ERRORS:
            errors += 1
    lines += gauge_lines("horizon_figure_errors", "Figures whose store failed", {(): errors})
    text = "\n".join(lines) + "\n"
    with _lock:
        _cache.update(at=now(), text=text)
    return text


def reset_cache() -> None:
    """Forget the cached figures (tests)."""
    with _lock:
        _cache.update(at=0.0, text="")
