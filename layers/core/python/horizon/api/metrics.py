"""Request metrics in Prometheus text format, kept in process memory.

Each Lambda execution environment (and each local process) counts only the requests it served
and starts from zero on a cold start: scrape `/metrics` for a local view, and use CloudWatch's
API Gateway and Lambda metrics for the fleet.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # unknown paths share one label so bad clients cannot grow the series


class Registry:
    """Request counts by method/route/status and a latency histogram by method/route."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sums: dict[tuple[str, str], float] = defaultdict(float)
        self._counts: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            key = (method, route)
            buckets = self._buckets.setdefault(key, [0] * len(BUCKETS))
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[index] += 1
            self._sums[key] += seconds
            self._counts[key] += 1

    def render(self) -> str:
        """Return the exposition text (format 0.0.4)."""
        lines = [
            "# HELP horizon_http_requests_total HTTP requests served by this instance.",
            "# TYPE horizon_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), count in sorted(self._requests.items()):
                labels = _labels(method=method, route=route, status=str(status))
                lines.append(f"horizon_http_requests_total{{{labels}}} {count}")
            lines += [
                "# HELP horizon_http_request_duration_seconds Request latency.",
                "# TYPE horizon_http_request_duration_seconds histogram",
            ]
            for (method, route), buckets in sorted(self._buckets.items()):
                base = _labels(method=method, route=route)
                name = "horizon_http_request_duration_seconds"
                for bound, count in zip(BUCKETS, buckets, strict=True):
                    lines.append(f'{name}_bucket{{{base},le="{bound}"}} {count}')
                total = self._counts[(method, route)]
                lines.append(f'{name}_bucket{{{base},le="+Inf"}} {total}')
                lines.append(f"{name}_sum{{{base}}} {self._sums[(method, route)]:.6f}")
                lines.append(f"{name}_count{{{base}}} {total}")
        return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{key}="{escape(value)}"' for key, value in labels.items())


class MetricsMiddleware:
    """Times every HTTP request and records it under its route template."""

    def __init__(self, app: ASGIApp, registry: Registry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            # The router stores the matched route in the scope it was given (this one).
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.registry.observe(scope["method"], route, status, time.perf_counter() - start)
