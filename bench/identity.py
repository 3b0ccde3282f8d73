"""(g) What identity and limits cost a request, through the local stack.

One stack with an admin key; a free-tier key made through the API. Side by side in one run:
- `GET /api/v1/jobs` with that key: the route's own work plus the checks;
- the checks alone, made from this process against the same AWS plane, exactly as the API's
  `current_caller` makes them: the key checked against this instance's copy of its record and
  the request counted against the tier's burst and daily quota, and refused if the key was
  revoked, in one conditional UpdateItem;
- `GET /health`, which needs no credential and counts nothing, for scale.
The figure the issue asks for is the checks' p50 (goal < 5 ms).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import httpx

from bench.local_stack import start_stack, stop_stack

ADMIN_KEY = "bench-admin-key-0123456789"
RUNS = 300
GOAL_MS = 5.0


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples), 2)


def _time(call: Any, runs: int = RUNS) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run() -> dict[str, Any]:
    # A pro key: 10,000 a day and 200 a second leave room for the timed requests.
    process, info = start_stack(HORIZON_ADMIN_KEY=ADMIN_KEY, PRO_BURST_PER_S="100000")
    try:
        with httpx.Client(base_url=info["rest_url"], timeout=10) as client:
            created = client.post(
                "/api/v1/keys",
                headers={"X-API-Key": ADMIN_KEY},
                json={"tenant": "bench", "tier": "pro"},
            ).json()
            headers = {"X-API-Key": created["key"]}
            for _ in range(20):
                client.get("/api/v1/jobs", headers=headers)
            request = _time(lambda: client.get("/api/v1/jobs", headers=headers))
            health = _time(lambda: client.get("/health"))
        checks = _checks(info, created["key"])
    finally:
        stop_stack(process)
    return {
        "runs": RUNS,
        "request_with_key_p50_ms": _p50(request),
        "checks_p50_ms": _p50(checks),
        "health_p50_ms": _p50(health),
        "goal_ms": GOAL_MS,
        "met": _p50(checks) < GOAL_MS,
    }


def _checks(info: dict[str, Any], key: str) -> list[float]:
    from horizon.aws import reset_clients
    from horizon.identity import IdentityService
    from horizon.settings import reset_settings

    saved = {name: os.environ.get(name) for name in info["env"]}
    os.environ.update(info["env"])
    os.environ["PRO_BURST_PER_S"] = "100000"
    reset_settings()
    reset_clients()
    try:
        service = IdentityService()

        def check() -> None:
            service.count_request(service.authenticate(key, counted_next=True))

        for _ in range(20):
            check()
        return _time(check)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        os.environ.pop("PRO_BURST_PER_S", None)
        reset_settings()
        reset_clients()


def markdown(result: dict[str, Any]) -> list[str]:
    return [
        "## (g) Identity and limits: what the checks add to a request",
        "",
        "| | p50 ms |",
        "|---|---|",
        f"| `GET /api/v1/jobs` with a pro key (route + checks) | {result['request_with_key_p50_ms']} |",
        f"| the checks alone (one conditional UpdateItem: revocation, burst and daily quota) | "
        f"**{result['checks_p50_ms']}** |",
        f"| `GET /health` (no credential, nothing counted) | {result['health_p50_ms']} |",
        "",
        f"Goal: checks < {result['goal_ms']} ms — {'met' if result['met'] else 'NOT met'} "
        f"({result['runs']} runs each).",
        "",
    ]
