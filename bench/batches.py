"""(i) Batches through the local stack: the API's answer for 1 vs 1,000 tasks, 1,000 trivial
tasks from POST to `completed` with 1, 2 and 4 local workers, and the grading batch (ten
word-count tasks against a page server on 127.0.0.1, each count checked).

Each worker count gets a stack of its own (`LOCAL_BATCH_WORKERS`), so the runs do not share
a queue or a plane.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from bench.local_stack import start_stack, stop_stack

TRIVIAL_TASKS = 1_000
WORKER_COUNTS = (1, 2, 4)
POST_ROUNDS = 5
GOAL_POST_RATIO = 2.0
TIMEOUT_S = 600.0


def _post(client: httpx.Client, tasks: list[Any]) -> tuple[str, float]:
    started = time.perf_counter()
    response = client.post("/batch", json=tasks)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return response.json()["batch_id"], elapsed


def _wait(client: httpx.Client, batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        batch = client.get(f"/batch/{batch_id}", params={"limit": 1}).json()
        if batch["status"] == "completed":
            return batch
        time.sleep(0.25)
    raise TimeoutError(f"batch {batch_id} did not complete in {TIMEOUT_S} s")


def _answer_times(client: httpx.Client) -> dict[str, float]:
    one, thousand = [], []
    for _ in range(POST_ROUNDS):
        one.append(_post(client, ["true"])[1])
        thousand.append(_post(client, ["true"] * 1_000)[1])
    p50_one, p50_thousand = statistics.median(one), statistics.median(thousand)
    return {
        "one_task_p50_ms": round(p50_one, 1),
        "thousand_tasks_p50_ms": round(p50_thousand, 1),
        "ratio": round(p50_thousand / p50_one, 2),
    }


def _throughput(workers: int) -> dict[str, Any]:
    process, info = start_stack(LOCAL_BATCH_WORKERS=str(workers))
    try:
        with httpx.Client(base_url=info["rest_url"], timeout=60) as client:
            started = time.perf_counter()
            batch_id, _ = _post(client, ["true"] * TRIVIAL_TASKS)
            batch = _wait(client, batch_id)
            seconds = time.perf_counter() - started
            result: dict[str, Any] = {
                "workers": workers,
                "seconds": round(seconds, 1),
                "tasks_per_s": round(TRIVIAL_TASKS / seconds, 1),
                "counts": batch["counts"],
            }
            if workers == WORKER_COUNTS[-1]:
                # The grading batch first: the answer-time posts queue 5,000 more tasks.
                result["grading"] = _grading(client)
                result["answer_times"] = _answer_times(client)
            return result
    finally:
        stop_stack(process)


def _grading(client: httpx.Client) -> dict[str, Any]:
    from tests.batch_pages import grading_task, page_words, serve_pages

    with serve_pages() as base:
        tasks = [grading_task(f"{base}/page-{n}.html") for n in range(1, 11)]
        started = time.perf_counter()
        batch_id, _ = _post(client, tasks)
        _wait(client, batch_id)
        seconds = time.perf_counter() - started
        batch = client.get(f"/batch/{batch_id}", params={"limit": 100}).json()
    right = sum(
        1
        for task in batch["tasks"]
        if (task["result"] or {}).get("words") == len(page_words(task["index"] + 1))
    )
    return {"tasks": len(tasks), "seconds": round(seconds, 2), "right_counts": right}


def run() -> dict[str, Any]:
    runs = [_throughput(workers) for workers in WORKER_COUNTS]
    last = runs[-1]
    return {
        "tasks": TRIVIAL_TASKS,
        "runs": [{key: run[key] for key in ("workers", "seconds", "tasks_per_s")} for run in runs],
        "exact": all(run["counts"]["completed"] == TRIVIAL_TASKS for run in runs),
        "answer_times": last["answer_times"],
        "goal_post_ratio": GOAL_POST_RATIO,
        "grading": last["grading"],
    }


def markdown(result: dict[str, Any]) -> list[str]:
    answers = result["answer_times"]
    lines = [
        "## (i) Batches through the local stack",
        "",
        f"`POST /batch` answer p50: 1 task **{answers['one_task_p50_ms']} ms**, 1,000 tasks "
        f"**{answers['thousand_tasks_p50_ms']} ms** ({answers['ratio']}×; goal ≤ "
        f"{result['goal_post_ratio']}×).",
        "",
        "| local workers | 1,000 trivial tasks, POST → completed | tasks/s |",
        "|---|---|---|",
    ]
    lines += [
        f"| {run['workers']} | {run['seconds']} s | {run['tasks_per_s']} |"
        for run in result["runs"]
    ]
    grading = result["grading"]
    lines += [
        "",
        f"Counts exact in every run: {result['exact']}. The grading batch ({grading['tasks']} "
        f"word-count tasks): {grading['seconds']} s, {grading['right_counts']} of "
        f"{grading['tasks']} counts right.",
        "",
    ]
    return lines
