"""Analytics: query latency from ingest-time aggregates vs. reading every entry, side by side.

What is measured (in one process, on in-process moto, so DynamoDB calls cost Python time
rather than network time — the same for both paths):
- a 200,000-line job (plus a 20-line deployments job) ingested through `IngestService`;
- for each of the issue's three questions, the wall time of `QueryService.run` with the
  planner on (aggregates) and with `use_aggregates=False` (entries), side by side on the same
  job: p50 over `rounds` aggregate runs and over `entry_rounds` entry runs (an entries run
  reads all 200,000 items, about a minute on this plane: one each is the default);
- the ingest core per line, as the ingest runs it (`validate_line`, entries buffered 250 at a
  time and aggregated per batch, segments finished and encoded every 5,000 lines) vs.
  `json.loads` + pydantic `LogEntry` (the plain approach), lines/s (see `_core_rates`).

moto runs with the local stack's fixes (`local.moto_fixes`, both sides alike): without them
the entries side would take an hour at 200,000 lines — every Query sorted the whole table
before picking its partition (quadratic over a job) and every read's response went through a
generic shape-driven serializer at about a millisecond per entry item.
"""

from __future__ import annotations

import random
import statistics
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import boto3
import orjson
from moto import mock_aws

from bench.validation import best_rate, plain_line
from horizon.analytics import (
    AggregateStore,
    QueryBody,
    QueryService,
    Segment,
    SegmentAggregator,
    aggregator,
)
from horizon.analytics.compaction import pass_count
from horizon.aws import reset_clients
from horizon.ingest import IngestService, validate_line
from horizon.ingest.service import FLUSH_ITEMS
from horizon.ingest.validator import validate_line_python
from horizon.jobs import Job, JobStore
from horizon.settings import get_settings, reset_settings
from horizon.speedups import speedups
from horizon.uploads import new_job
from local import moto_fixes

OWNER = "bench"
START = datetime(2026, 11, 22, tzinfo=UTC)
EVENTS = ("login_failure", "login_success", "page_view", "checkout")
SEGMENT_LINES = 5_000  # the default INGEST_CHECKPOINT_LINES


def _rows(count: int, seed: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        moment = START + timedelta(milliseconds=n * 40 + rng.randrange(40))
        row: dict[str, Any] = {
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": "INFO",
            "message": f"request {n}",
            "api_id": f"api-{rng.randrange(20)}",
            "endpoint": rng.choice(("/users/{id}", "/orders", "/login", "/search")),
            "http_status": rng.choice((200, 200, 200, 201, 404, 500)),
            "response_time_ms": rng.choice((rng.randrange(1, 500), round(rng.uniform(0, 900), 2))),
            "event_type": rng.choice(EVENTS),
        }
        if rng.random() < 0.05:
            row["error_code"] = rng.choice((500, 502, 404))
        out.append(orjson.dumps(row))
    return out


def _deploys() -> bytes:
    rows = [
        {
            "timestamp": (START + timedelta(minutes=7 * k)).isoformat().replace("+00:00", "Z"),
            "event_type": "deployment",
            "version_id": f"version-v{k}",
        }
        for k in range(20)
    ]
    return b"\n".join(orjson.dumps(row) for row in rows)


class _Quiet:
    def publish(self, job: Job) -> None:
        pass


def _ingest(s3: Any, data: bytes, name: str) -> str:
    job = JobStore().create(new_job(OWNER, name, len(data)))
    job_id = job.job_id
    s3.put_object(Bucket=get_settings().uploads_bucket, Key=job.object_key, Body=data)
    IngestService(publisher=_Quiet()).run(OWNER, job_id, lambda: 900_000)
    return job_id


def _timed(service: QueryService, body: QueryBody, rounds: int) -> tuple[float, Any]:
    times = []
    answer = None
    for _ in range(rounds):
        started = time.perf_counter()
        answer = service.run(OWNER, body)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), answer


def _core_rates(sample: list[bytes], rounds: int = 3) -> dict[str, Any]:
    """Lines/s of the ingest core, as `IngestService` runs it, against the plain approach.

    - validate: `validate_line` alone.
    - buffer: validate, and buffer each valid entry as a `(line, entry)` pair until 250 are
      held (what the ingest does for storage, with or without aggregates).
    - fast: buffer, and hand each batch of 250 to the segment's aggregator, finish a segment
      every 5,000 lines and encode its parts as the store does (JSON, zlib): the ingest core
      with aggregation.
    - plain: `json.loads` then a pydantic `LogEntry` per line, the very code the validation
      benchmark times (`bench.validation.plain_line`: try/except, no per-line context manager).

    The core runs as shipped (with the C fast path where it is built) and in pure Python.
    """
    shipped = _core_variants(sample, rounds, validate_line)
    with _pure_python_aggregator():
        python = _core_variants(sample, rounds, validate_line_python)
    plain = best_rate(len(sample), rounds, partial(_run_each, plain_line, sample))
    return {
        "c_fast_path": speedups is not None,
        **_core_figures(shipped, plain),
        "python": _core_figures(python, plain),
        "goal_ratio": 3.0,
    }


def _core_variants(
    sample: list[bytes], rounds: int, validate: Callable[[bytes], Any]
) -> dict[str, float]:
    def buffered(aggregate: bool) -> Callable[[], None]:
        def work() -> None:
            segment = SegmentAggregator(0, 0)
            batch: list[tuple[int, Any]] = []
            for number, raw in enumerate(sample, 1):
                entry, _ = validate(raw)
                if entry is not None:
                    batch.append((number, entry))
                if len(batch) >= FLUSH_ITEMS or number % SEGMENT_LINES == 0:
                    if aggregate:
                        segment.add_all(batch)
                    batch.clear()
                if aggregate and number % SEGMENT_LINES == 0:
                    _encode_parts(segment.finish(number, 0))
                    segment = SegmentAggregator(number, 0)
            if aggregate:
                segment.add_all(batch)
                _encode_parts(segment.finish(len(sample), 0))

        return work

    return {
        "validate": best_rate(len(sample), rounds, partial(_run_each, validate, sample)),
        "buffer": best_rate(len(sample), rounds, buffered(aggregate=False)),
        "fast": best_rate(len(sample), rounds, buffered(aggregate=True)),
    }


def _run_each(check: Callable[[bytes], Any], sample: list[bytes]) -> None:
    for raw in sample:
        check(raw)


def _core_figures(rates: dict[str, float], plain: float) -> dict[str, Any]:
    aggregation_us = 1e6 / rates["fast"] - 1e6 / rates["buffer"]
    return {
        "validate_only_lines_per_s": round(rates["validate"]),
        "validate_and_buffer_lines_per_s": round(rates["buffer"]),
        "validate_and_aggregate_lines_per_s": round(rates["fast"]),
        "plain_lines_per_s": round(plain),
        "aggregation_us_per_line": round(aggregation_us, 2),
        "ratio": round(rates["fast"] / plain, 2),
        # The same core without the buffering the ingest does for storage either way:
        # validate_line plus the aggregation's own cost per line.
        "ratio_without_buffering": round(
            (1e6 / plain) / (1e6 / rates["validate"] + aggregation_us), 2
        ),
    }


@contextmanager
def _pure_python_aggregator() -> Iterator[None]:
    """The aggregator without the C pass, as where the fast path is not built."""
    saved = aggregator._add_columns
    aggregator._add_columns = None
    try:
        yield
    finally:
        aggregator._add_columns = saved


def _encode_parts(segment: Segment) -> None:
    """What `AggregateStore.put_segment` does to a segment's parts before writing them."""
    for payload in segment.parts.values():
        zlib.compress(orjson.dumps(payload), 1)


def _compaction(job_id: str) -> dict[str, Any]:
    """Compact the completed job's aggregates once more (as its completion did), timed."""
    job = JobStore().get(OWNER, job_id)
    started = time.perf_counter()
    parts = AggregateStore().put_compacted(OWNER, job_id, job.counts.lines, job.counts.valid)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "parts": "".join(parts),
        "passes": pass_count(job.counts.valid),
        "valid": job.counts.valid,
    }


def run(line_count: int = 200_000, rounds: int = 15, entry_rounds: int = 1) -> dict[str, Any]:
    """Ingest, then time the three questions both ways, side by side; return the figures.

    Args:
        line_count: lines of the job the questions are asked of.
        rounds: aggregate runs per question (p50).
        entry_rounds: runs per question reading every entry (p50); 0 skips that side.
    """
    rows = _rows(line_count)
    result: dict[str, Any] = {"lines": line_count, "core": _core_rates(rows[:50_000])}
    import os

    from local.provision import provision

    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        moto_fixes.apply()
        with mock_aws():
            clients = {
                name: boto3.client(name, region_name="us-east-1")
                for name in ("dynamodb", "sqs", "s3")
            }
            provisioned = provision(clients, prefix="bench", region="us-east-1")
            os.environ.update(provisioned.env)
            os.environ.setdefault("WEBSOCKET_CALLBACK_URL", "https://example.invalid/prod")
            reset_settings()
            reset_clients()
            started = time.perf_counter()
            app = _ingest(clients["s3"], b"\n".join(rows), "app.jsonl")
            deploys = _ingest(clients["s3"], _deploys(), "deployments.jsonl")
            result["ingest_seconds"] = round(time.perf_counter() - started, 1)
            result["compaction"] = _compaction(app)
            questions = {
                "q1_avg_slow_requests": {
                    "metric": "avg",
                    "field": "response_time_ms",
                    "filter": {
                        "api_id": "api-7",
                        "endpoint": "/users/{id}",
                        "http_status": 200,
                        "response_time_ms": {"gt": 100},
                    },
                },
                "q2_top_login_failure_window": {
                    "metric": "count",
                    "filter": {"event_type": "login_failure"},
                    "window": {"size": "10m", "mode": "sliding"},
                    "top": 1,
                },
                "q3_errors_after_deploy": {
                    "metric": "count",
                    "filter": {"error_code": 500},
                    "relative_to": {"job_ids": [deploys], "duration": "5m"},
                },
            }
            planned, reference = QueryService(), QueryService(use_aggregates=False)
            for name, query in questions.items():
                body = QueryBody.model_validate({**query, "job_ids": [app]})
                fast_ms, fast = _timed(planned, body, rounds)
                slow_ms, slow = _timed(reference, body, entry_rounds) if entry_rounds else (0, None)
                same = slow is None or (
                    fast.model_dump(exclude={"source"}) == slow.model_dump(exclude={"source"})
                )
                result[name] = {
                    "aggregates_p50_ms": round(fast_ms, 1),
                    "entries_p50_ms": round(slow_ms, 1) if slow else None,
                    "speedup": round(slow_ms / fast_ms, 1) if slow else None,
                    "source": fast.source,
                    "same_answer": same,
                    "value": fast.value,
                }
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_settings()
        reset_clients()
    result["rounds"] = {"aggregates": rounds, "entries": entry_rounds}
    result["goals"] = {"p50_ms": 50, "speedup": 20}
    return result


def _core_line(core: dict[str, Any]) -> str:
    return (
        f"{core['validate_and_aggregate_lines_per_s']:,} lines/s vs plain "
        f"{core['plain_lines_per_s']:,} lines/s = **{core['ratio']}×**, goal ≥ 3×; the "
        f"validator alone: {core['validate_only_lines_per_s']:,} lines/s; validating and "
        "buffering entries as the ingest does without aggregates: "
        f"{core['validate_and_buffer_lines_per_s']:,} lines/s; aggregation adds "
        f"{core['aggregation_us_per_line']} µs per line, so validation plus aggregation "
        f"alone is {core['ratio_without_buffering']}× the plain approach"
    )


def markdown(result: dict[str, Any]) -> list[str]:
    """The analytics section of the benchmark summary."""
    out = [
        f"## (d) Analytics on a {result['lines']:,}-line job (in-process moto)",
        "",
        "| question | aggregates p50 ms | entries p50 ms | speedup | source | same answer |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in result.items():
        if isinstance(figures, dict) and "aggregates_p50_ms" in figures:
            out.append(
                f"| {name} | {figures['aggregates_p50_ms']} | {figures['entries_p50_ms']} | "
                f"{figures['speedup']}× | {figures['source']} | {figures['same_answer']} |"
            )
    core = result["core"]
    fast_path = "with the C fast path" if core["c_fast_path"] else "the C fast path NOT built"
    compaction = result.get("compaction", {})
    out += [
        "",
        f"Goals: p50 < {result['goals']['p50_ms']} ms, ≥ {result['goals']['speedup']}× faster. "
        f"Ingest took {result.get('ingest_seconds')} s; compacting the job's aggregates "
        f"({compaction.get('valid', 0):,} valid entries, {compaction.get('passes')} passes) "
        f"{compaction.get('seconds')} s.",
        "",
        f"Ingest core with aggregation, as shipped ({fast_path}: {_core_line(core)}), "
        "and in pure Python, where the C fast path is not built "
        f"({_core_line(core['python'])}).",
        "",
    ]
    return out
