"""A generated log and an independent computation of the questions' answers over it."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

BASE = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
APIS = ["api-1", "api-2", "api-3"]
ENDPOINTS = ["/users/{id}", "/orders", "/health"]
STATUSES = [200, 200, 200, 201, 404, 500]
EVENTS = ["login_failure", "login_success", "request", None]
ZONES = [timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)]


def generate(count: int, seed: int = 7) -> tuple[list[Any], list[dict[str, Any]]]:
    """Return (rows to upload, the valid rows as truth with `ms`: their epoch ms).

    Timestamps come in several shapes (Z, offsets, naive, with and without milliseconds);
    about one line in 50 is invalid.
    """
    rng = random.Random(seed)
    rows: list[Any] = []
    truth: list[dict[str, Any]] = []
    moment = BASE
    for n in range(count):
        moment += timedelta(milliseconds=rng.choice([0, 1, 250, 999, 1500, 4000]))
        if n % 50 == 49:
            rows.append(rng.choice(["{broken", {"timestamp": "nope"}, {"http_status": 200}]))
            continue
        ms = int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
        row: dict[str, Any] = {"timestamp": _shape(moment, rng), "level": "INFO"}
        if rng.random() < 0.8:
            row["api_id"] = rng.choice(APIS)
            row["endpoint"] = rng.choice(ENDPOINTS)
            row["http_status"] = rng.choice(STATUSES)
            if rng.random() < 0.95:
                row["response_time_ms"] = rng.choice([rng.randint(1, 400), rng.random() * 300])
        event = rng.choice(EVENTS)
        if event:
            row["event_type"] = event
        if rng.random() < 0.1:
            row["error_code"] = rng.choice([500, 502, 404])
        rows.append(row)
        truth.append({**row, "ms": ms})
    return rows, truth


def _shape(moment: datetime, rng: random.Random) -> str:
    zone = rng.choice(ZONES)
    local = moment.astimezone(UTC) + zone
    kind = rng.randrange(4)
    text = local.replace(tzinfo=None).isoformat(timespec="milliseconds")
    if kind == 0:
        return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    if kind == 1:
        sign = "-" if zone < timedelta(0) else "+"
        minutes = abs(int(zone.total_seconds())) // 60
        return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    # Naive means UTC: only write the UTC wall clock naive.
    utc = moment.replace(tzinfo=None)
    if kind == 2:
        return utc.isoformat(timespec="milliseconds")
    return utc.isoformat(timespec="milliseconds").replace("T", " ")


def nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered) / 100)) - 1]


def best_sliding(instants: list[int], size: int) -> tuple[int, int]:
    """Brute force: (count, start) of the fullest window [t, t + size), earliest first."""
    best = (0, 0)
    for start in sorted(set(instants)):
        count = sum(1 for t in instants if start <= t < start + size)
        if count > best[0]:
            best = (count, start)
    return best
