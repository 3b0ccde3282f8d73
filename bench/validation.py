"""(a) Lines per second: the fast validator vs. the plain approach, on the same lines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from bench.data import lines
from horizon.ingest import LogEntry, validate_line
from horizon.ingest.validator import validate_line_python
from horizon.speedups import speedups


def plain_line(raw: bytes) -> bool:
    """The plain approach: json.loads, then LogEntry.model_validate."""
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    try:
        LogEntry.model_validate(data)
    except ValidationError:
        return False
    return True


def _fast(raw: bytes) -> bool:
    return validate_line(raw)[0] is not None


def _python(raw: bytes) -> bool:
    return validate_line_python(raw)[0] is not None


def best_rate(count: int, rounds: int, work: Callable[[], object]) -> float:
    """Items per second of the fastest of `rounds` runs of `work` over `count` items."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best


def _measure(check: Any, sample: list[bytes], rounds: int) -> tuple[float, int]:
    def work() -> int:
        return sum(1 for raw in sample if check(raw))

    return best_rate(len(sample), rounds, work), work()


def run(count: int = 200_000, rounds: int = 3) -> dict[str, Any]:
    """Return the rates (as shipped, the pure-Python validator alone, the plain approach),
    the ratio, and whether the approaches agreed on every line."""
    sample = [raw for raw in lines(count) if raw.strip()]
    fast_rate, fast_valid = _measure(_fast, sample, rounds)
    python_rate, python_valid = _measure(_python, sample, rounds)
    plain_rate, plain_valid = _measure(plain_line, sample, rounds)
    return {
        "lines": len(sample),
        "valid": fast_valid,
        "python_valid": python_valid,
        "plain_valid": plain_valid,
        "c_fast_path": speedups is not None,
        "fast_lines_per_s": round(fast_rate),
        "python_lines_per_s": round(python_rate),
        "plain_lines_per_s": round(plain_rate),
        "ratio": round(fast_rate / plain_rate, 2),
        "python_ratio": round(python_rate / plain_rate, 2),
        "goal_ratio": 3.0,
    }
