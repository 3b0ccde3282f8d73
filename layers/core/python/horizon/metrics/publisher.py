"""Business metrics as CloudWatch Embedded Metric Format (EMF) lines, through Powertools.

Powertools' `Metrics` keeps one metric set per process in class attributes, with one set of
dimensions for all of it, and is not thread-safe. Here each distinct dimension set (e.g.
`status=failed`) gets its own Powertools EMF provider, so metrics with different dimensions
never share a blob, and a lock guards them: the local stack runs every handler in one
process, in threads. Values wait in memory until `flush()` prints them to stdout, where
Lambda's log pipeline turns EMF lines into metrics (no API call, nothing to fail). Locally
the lines are printed like any log line, or not at all with `POWERTOOLS_METRICS_DISABLED`
(Powertools' own switch).

Publishing never raises: a metric is not worth failing (and redelivering) the work it counts.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from horizon.metrics.settings import get_metrics_settings

logger = logging.getLogger(__name__)

Dimensions = tuple[tuple[str, str], ...]
Handler = TypeVar("Handler", bound=Callable[..., Any])


class MetricsPublisher:
    """Buffers metric values by dimension set and prints them as EMF on `flush()`.

    Args:
        namespace: the CloudWatch namespace; POWERTOOLS_METRICS_NAMESPACE (default
            "EventHorizon") when omitted.
    """

    def __init__(self, namespace: str | None = None) -> None:
        self._namespace = namespace
        self._lock = threading.Lock()
        self._pending: dict[Dimensions, AmazonCloudWatchEMFProvider] = {}

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        """Add `value` to the metric `name` (unit Count) under `dimensions`."""
        key: Dimensions = tuple(sorted(dimensions.items()))
        try:
            with self._lock:
                provider = self._pending.get(key)
                if provider is None:
                    provider = self._pending[key] = self._provider(dict(key))
                # Powertools prints the set itself once a metric holds 100 values.
                provider.add_metric(name=name, unit=MetricUnit.Count, value=value)
        except Exception:
            logger.exception("could not publish the metric %s", name)

    def flush(self) -> None:
        """Print every pending metric as one EMF line per dimension set, and forget them."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for provider in pending.values():
            if not provider.metric_set:  # Powertools warns on an empty flush
                continue
            try:
                provider.flush_metrics()
            except Exception:
                logger.exception("could not flush metrics")

    def _provider(self, dimensions: dict[str, str]) -> AmazonCloudWatchEMFProvider:
        return AmazonCloudWatchEMFProvider(
            namespace=self._namespace or get_metrics_settings().namespace,
            # Not POWERTOOLS_SERVICE_NAME: a business figure is the platform's, whichever
            # function counted it, so no `service` dimension splits it.
            service="",
            metric_set={},
            dimension_set=dimensions,
            metadata_set={},
        )


_publisher: MetricsPublisher | None = None
_publisher_lock = threading.Lock()


def publisher() -> MetricsPublisher:
    """The process's publisher, made on first use (EMF buffers are per process, as in
    Powertools; Lambda runs one invocation at a time per process)."""
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = MetricsPublisher()
        return _publisher


def reset_publisher() -> None:
    """Drop the process's publisher and what it buffered (tests)."""
    global _publisher
    with _publisher_lock:
        _publisher = None


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Count `value` of the business metric `name` (see `horizon.metrics.names`)."""
    publisher().count(name, value, **dimensions)


def flush() -> None:
    """Print what this process counted since the last flush."""
    publisher().flush()


def flushing(handler: Handler) -> Handler:
    """Decorate a Lambda handler so that what its invocation counted is flushed at its end,
    whether it returns or raises (Lambda may freeze the process right after)."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            flush()

    return wrapper  # type: ignore[return-value]
