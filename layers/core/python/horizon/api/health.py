"""Readiness checks for `GET /health/ready`: every table, bucket and queue the API uses.

The list comes from the wiring, not from this module: the API function's `access` map names
the resources it touches, and each resource's spec names the variable carrying its name or
URL (set by CDK and by the local stack). A resource added to the API's access is checked
without a change here. Keys that are no table, bucket or queue (the WebSocket management
API, the SES identity) are not checked: they have no cheap, side-effect-free call.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from horizon import aws, wiring
from horizon.dynamo import AWS_ERRORS, error_code

logger = logging.getLogger(__name__)

# API Gateway gives up after 29 s; a readiness check must answer well before, even when a
# dependency hangs (the shared clients retry, so checks run in threads under one deadline).
DEFAULT_TIMEOUT_S = 3.0

CheckStatus = Literal["ok", "error", "timeout"]
Check = Callable[[], Any]


@dataclass(frozen=True)
class CheckResult:
    """One dependency's answer: its status, how long it took, and why it failed."""

    status: CheckStatus
    latency_ms: float
    error: str | None = None


def _table_check(name: str) -> Check:
    return lambda: aws.client("dynamodb").describe_table(TableName=name)


def _bucket_check(name: str) -> Check:
    return lambda: aws.client("s3").head_bucket(Bucket=name)


def _queue_check(url: str) -> Check:
    return lambda: aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])


# Resource kind → (check name prefix, its specs by key, how to check one by its name or URL).
_KINDS: tuple[tuple[str, Mapping[str, Any], Callable[[str], Check]], ...] = (
    ("dynamodb", {spec.key: spec for spec in wiring.TABLES}, _table_check),
    ("s3", {spec.key: spec for spec in wiring.BUCKETS}, _bucket_check),
    # A DLQ has no key of its own here (nor a variable): its consumer gets its messages from
    # the event source mapping. The API sends to work queues only.
    ("sqs", {spec.key: spec for spec in wiring.QUEUES}, _queue_check),
)


class MissingSettingError(RuntimeError):
    """The variable naming a resource is not set in this process."""


def _missing(variable: str) -> Check:
    def check() -> None:
        raise MissingSettingError(f"{variable} is not set")

    return check


def dependency_checks(
    spec: wiring.FunctionSpec = wiring.API_FUNCTION, environ: Mapping[str, str] = os.environ
) -> dict[str, Check]:
    """Return check name (`dynamodb:jobs`, `s3:uploads`, `sqs:execute`) → a cheap call for
    every table, bucket and queue in `spec.access`, named by the variables of `environ`."""
    checks: dict[str, Check] = {}
    for key in spec.access:
        for prefix, specs, make in _KINDS:
            resource = specs.get(key)
            if resource is None:
                continue
            value = environ.get(resource.env)
            checks[f"{prefix}:{key}"] = make(value) if value else _missing(resource.env)
    return checks


def _run(check: Check) -> CheckResult:
    start = time.perf_counter()
    try:
        check()
    except AWS_ERRORS as error:
        reason = error_code(error) or type(error).__name__
        return CheckResult("error", _elapsed_ms(start), reason)
    except MissingSettingError as error:
        return CheckResult("error", _elapsed_ms(start), str(error))
    except Exception as error:
        # Anything else (a malformed URL, a bug) is a failed check too, not a 500. The answer
        # is public: it names the exception's type only; the log has the rest.
        logger.exception("readiness check failed unexpectedly")
        return CheckResult("error", _elapsed_ms(start), type(error).__name__)
    return CheckResult("ok", _elapsed_ms(start))


def _elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def check_dependencies(
    checks: Mapping[str, Check] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> dict[str, CheckResult]:
    """Run every check at once under one deadline.

    Args:
        checks: name → call; the API function's dependencies (`dependency_checks()`) by default.
        timeout_s: the deadline for all of them together.

    Returns:
        name → result; a check still running at the deadline is a "timeout".
    """
    checks = dependency_checks() if checks is None else checks
    if not checks:
        return {}
    start = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="health")
    try:
        futures = {name: pool.submit(_run, check) for name, check in checks.items()}
        wait(futures.values(), timeout=timeout_s)
        waited_ms = _elapsed_ms(start)
        results = {
            name: future.result()
            if future.done()
            else CheckResult("timeout", waited_ms, f"no answer within {timeout_s:g} s")
            for name, future in futures.items()
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung call must not hold the answer
    for name, result in results.items():
        if result.status != "ok":
            logger.warning("readiness check %s: %s (%s)", name, result.status, result.error)
    return results
