"""(f) Code execution end to end through the local stack's REST API.

For `print(1)` and for the pandas snippet, the time from sending `POST /execute` to having its
200 answer (the run queued on SQS, taken by a sandbox worker, forked from the warm fork server
into a locked-down child, its result stored and read back), p50 and p99 over many requests;
side by side with running the same snippet in a fresh `python -c` subprocess, which pays for
starting Python and importing pandas every time.

Starts `python -m local --port 0 --print-json` as a subprocess (real handlers and sandbox).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

from bench.local_stack import start_stack, stop_stack

PANDAS_SNIPPET = (
    "import pandas as pd\n"
    'df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.5, 6.5]})\n'
    'print(df["b"].mean())\n'
)
GOALS = {"print_p50_ms": 50, "pandas_p50_ms": 100, "speedup": 5}
WARMUP = 5


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "runs": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def _through_api(client: httpx.Client, code: str, runs: int, expected: str) -> dict[str, Any]:
    samples: list[float] = []
    for n in range(WARMUP + runs):
        started = time.perf_counter()
        response = client.post("/execute", json={"language": "python", "code": code})
        elapsed_ms = (time.perf_counter() - started) * 1000
        body = response.json()
        if response.status_code != 200 or body.get("stdout") != expected:
            return {"error": f"unexpected answer {response.status_code}: {body}"}
        if n >= WARMUP:
            samples.append(elapsed_ms)
    return _percentiles(samples)


def _fresh_interpreter(code: str, runs: int, expected: str) -> dict[str, Any]:
    samples: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        samples.append((time.perf_counter() - started) * 1000)
        if done.stdout != expected:
            return {"error": f"unexpected output: {done.stdout!r} {done.stderr[-300:]!r}"}
    return _percentiles(samples)


def run(runs: int = 100, fresh_runs: int = 20) -> dict[str, Any]:
    """Measure; returns the figures (or an `error`)."""
    try:
        process, info = start_stack()
    except RuntimeError as error:
        return {"error": str(error)}
    try:
        with httpx.Client(base_url=info["rest_url"], timeout=30) as client:
            health = client.get("/_local/health").json()
            results: dict[str, Any] = {
                "isolation": health.get("sandbox_workers", {}).get("isolation"),
                "print": _through_api(client, "print(1)", runs, "1\n"),
                "pandas": _through_api(client, PANDAS_SNIPPET, runs, "5.333333333333333\n"),
            }
    finally:
        stop_stack(process)
    results["fresh_python_c"] = _fresh_interpreter(
        PANDAS_SNIPPET, fresh_runs, "5.333333333333333\n"
    )
    pandas, fresh = results["pandas"], results["fresh_python_c"]
    if "p50_ms" in pandas and "p50_ms" in fresh:
        results["speedup"] = round(fresh["p50_ms"] / pandas["p50_ms"], 1)
    results["goals"] = GOALS
    return results


def markdown(results: dict[str, Any]) -> list[str]:
    out = ["## (f) Code execution through the local stack", ""]
    if "error" in results:
        return [*out, f"Not measured: {results['error']}", ""]
    out += [
        f"`POST /execute` → 200 with the result, sandbox isolation `{results['isolation']}`:",
        "",
        "| program | runs | p50 ms | p99 ms | max ms | goal p50 |",
        "|---|---|---|---|---|---|",
    ]
    for key, label, goal in (
        ("print", "`print(1)`", GOALS["print_p50_ms"]),
        ("pandas", "pandas snippet", GOALS["pandas_p50_ms"]),
        ("fresh_python_c", "pandas snippet in a fresh `python -c`", None),
    ):
        row = results[key]
        if "error" in row:
            out.append(f"| {label} | error: {row['error']} | | | | |")
            continue
        out.append(
            f"| {label} | {row['runs']} | {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} "
            f"| {f'< {goal}' if goal else ''} |"
        )
    if "speedup" in results:
        out += [
            "",
            f"The sandbox through the API is **{results['speedup']}×** faster than a fresh "
            f"`python -c` (goal ≥ {GOALS['speedup']}×).",
        ]
    return [*out, ""]
