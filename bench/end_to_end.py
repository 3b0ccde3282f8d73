"""(c) A 100,000-line file through the local stack: upload over REST, poll until completed.

Starts `python -m local --port 0 --print-json` as a subprocess (the real handlers, pollers and
moto); skips with a message when the local stack is not available.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import httpx

from bench.data import lines

MULTIPART_LIMIT = 4 * 1024 * 1024  # bigger files go through the presigned POST


def _first_line(process: subprocess.Popen[str], timeout_s: float) -> str | None:
    found: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        found.put(process.stdout.readline() or None)

    threading.Thread(target=read, daemon=True).start()
    try:
        return found.get(timeout=timeout_s)
    except queue.Empty:
        return None


def _upload(client: httpx.Client, rest_url: str, path: str, size: int) -> str:
    name = os.path.basename(path)
    if size <= MULTIPART_LIMIT:
        with open(path, "rb") as file:
            response = client.post(
                f"{rest_url}/api/v1/files/upload",
                files={"file": (name, file, "application/x-ndjson")},
            )
        response.raise_for_status()
        return str(response.json()["job_id"])
    created = client.post(
        f"{rest_url}/api/v1/files",
        json={"file_name": name, "size_bytes": size, "content_type": "application/x-ndjson"},
    )
    created.raise_for_status()
    document = created.json()
    upload = document["upload"]
    with open(path, "rb") as file:
        posted = client.post(
            upload["url"], data=upload["fields"], files={"file": (name, file)}, timeout=120
        )
    posted.raise_for_status()
    return str(document["job_id"])


def run(line_count: int = 100_000, timeout_s: float = 600) -> dict[str, Any]:
    """Return seconds from upload to completed and lines/s, or why it was skipped."""
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", "0", "--print-json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except OSError as error:
        return {"skipped": f"could not start the local stack: {error}"}
    try:
        first = _first_line(process, 60)
        if not first:
            return {"skipped": "the local stack did not start (python -m local --print-json)"}
        try:
            rest_url = json.loads(first)["rest_url"]
        except (ValueError, KeyError):
            return {"skipped": f"unexpected output from the local stack: {first[:200]!r}"}
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "bench.jsonl")
            with open(path, "wb") as file:
                for raw in lines(line_count):
                    file.write(raw + b"\n")
            size = os.path.getsize(path)
            with httpx.Client(timeout=30) as client:
                started = time.perf_counter()
                job_id = _upload(client, rest_url, path, size)
                deadline = started + timeout_s
                job: dict[str, Any] = {}
                while time.perf_counter() < deadline:
                    job = client.get(f"{rest_url}/api/v1/jobs/{job_id}").json()
                    if job.get("status") in ("completed", "failed"):
                        break
                    time.sleep(0.25)
                seconds = time.perf_counter() - started
        if job.get("status") != "completed":
            return {"error": f"job did not complete in {timeout_s}s", "job": job}
        return {
            "lines": job.get("lines"),
            "valid": job.get("valid"),
            "invalid": job.get("invalid"),
            "size_bytes": size,
            "seconds": round(seconds, 1),
            "lines_per_s": round(line_count / seconds),
        }
    except httpx.HTTPError as error:
        return {"error": f"HTTP: {error}"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
