"""Generated log lines: realistic valid lines with a mix of the ways lines go wrong."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import orjson

LEVELS = ("DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR")
SERVICES = ("billing", "auth", "search", "checkout", "gateway")
ENDPOINTS = ("/api/v1/pay", "/login", "/search", "/cart/items", "/health")
STATUSES = (200, 200, 200, 201, 204, 301, 400, 401, 404, 500, 502, 503)
ZONES = ("Z", "+00:00", "+02:00", "-05:00", "")


_START = datetime(2026, 11, 1, tzinfo=UTC)
_ZONES = {
    "Z": UTC,
    "+00:00": UTC,
    "+02:00": timezone(timedelta(hours=2)),
    "-05:00": timezone(timedelta(hours=-5)),
    "": UTC,
}


def _timestamp(rng: random.Random, n: int) -> str:
    # Log files are chronological: about 40 lines a second, in one of a few zone spellings.
    moment = _START + timedelta(milliseconds=n * 25 + rng.randrange(25))
    zone = rng.choice(ZONES)
    text = moment.astimezone(_ZONES[zone]).isoformat(
        timespec="milliseconds" if rng.random() < 0.8 else "seconds"
    )
    if zone in ("Z", ""):
        text = text[:-6] + zone
    return text


def _valid(rng: random.Random, n: int) -> dict:
    line = {
        "timestamp": _timestamp(rng, n),
        "level": rng.choice(LEVELS),
        "message": f"request {n} handled for user {rng.randrange(10_000)}",
        "service": rng.choice(SERVICES),
        "endpoint": rng.choice(ENDPOINTS),
        "http_status": rng.choice(STATUSES),
        "response_time_ms": round(rng.uniform(0.5, 900), 2),
        "api_id": f"api-{rng.randrange(50)}",
    }
    if rng.random() < 0.3:
        line["error_code"] = rng.randrange(1000, 2000)
    if rng.random() < 0.3:
        line["request"] = {"ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}", "ua": "curl/8"}
    return line


def _invalid(rng: random.Random, n: int) -> bytes:
    kind = rng.randrange(6)
    base = _valid(rng, n)
    if kind == 0:
        return b"not json " + str(n).encode()
    if kind == 1:
        base["http_status"] = True
    elif kind == 2:
        base["response_time_ms"] = "12"
    elif kind == 3:
        del base["timestamp"]
    elif kind == 4:
        base["timestamp"] = "yesterday at noon"
    else:
        base["http_status"] = 700
    return orjson.dumps(base)


def lines(count: int, invalid_ratio: float = 0.1, seed: int = 7) -> Iterator[bytes]:
    """Yield `count` lines (without line breaks), about `invalid_ratio` of them invalid."""
    rng = random.Random(seed)
    for n in range(count):
        if rng.random() < invalid_ratio:
            yield _invalid(rng, n)
        elif rng.random() < 0.01:
            yield b""
        else:
            yield orjson.dumps(_valid(rng, n))


def write_file(path: str, size_bytes: int, seed: int = 7) -> int:
    """Write a .jsonl file of about `size_bytes`; return the number of lines."""
    count = 0
    written = 0
    with open(path, "wb") as file:
        batch: list[bytes] = []
        for line in lines(10**9, seed=seed):
            batch.append(line)
            written += len(line) + 1
            count += 1
            if len(batch) >= 10_000 or written >= size_bytes:
                file.write(b"\n".join(batch) + b"\n")
                batch = []
            if written >= size_bytes:
                break
    return count
