"""Small real clients for integration tests: upload, poll a job, read pages, watch a WebSocket."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import websockets

FINISHED = {"completed", "failed"}


def upload(rest_url: str, name: str, content: bytes, token: str | None = None) -> httpx.Response:
    """POST the file as multipart field `file` to /api/v1/files/upload."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{rest_url}/api/v1/files/upload",
        files={"file": (name, content, "application/x-ndjson")},
        headers=headers,
        timeout=30,
    )


def get_job(rest_url: str, job_id: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{rest_url}/api/v1/jobs/{job_id}", headers=headers, timeout=10)


def wait_for_job(
    rest_url: str,
    job_id: str,
    until: Any = lambda job: job["status"] in FINISHED,
    timeout_s: float = 60,
    token: str | None = None,
) -> dict[str, Any]:
    """Poll GET /api/v1/jobs/{job_id} until `until(job)` holds; return the job."""
    deadline = time.monotonic() + timeout_s
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = get_job(rest_url, job_id, token)
        assert response.status_code == 200, response.text
        job = response.json()
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not get there within {timeout_s} s: {job}")


def read_all(rest_url: str, job_id: str, kind: str, limit: int = 100) -> list[dict[str, Any]]:
    """Follow the cursor of /api/v1/jobs/{job_id}/{kind} to the end."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10_000):
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = httpx.get(f"{rest_url}/api/v1/jobs/{job_id}/{kind}", params=params, timeout=10)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("pagination did not end")


def ends_the_watch(message: dict[str, Any]) -> bool:
    """A finished job's progress message, or an error."""
    return message.get("type") == "error" or (
        message.get("type") == "progress" and message.get("status") in FINISHED
    )


def _until_the_end(received: list[dict[str, Any]]) -> bool:
    return ends_the_watch(received[-1])


async def _watch(
    url: str,
    send: list[dict[str, Any]],
    timeout_s: float,
    done: Callable[[list[dict[str, Any]]], bool],
) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with websockets.connect(url, open_timeout=10) as socket:
        for message in send:
            await socket.send(json.dumps(message))
        async with asyncio.timeout(timeout_s):
            async for frame in socket:
                received.append(json.loads(frame))
                if done(received):
                    break
    return received


def watch_job(
    url: str,
    send: list[dict[str, Any]] | None = None,
    timeout_s: float = 60,
    done: Callable[[list[dict[str, Any]]], bool] = _until_the_end,
) -> list[dict[str, Any]]:
    """Connect to `url`, send `send`, and collect messages until `done` says so (by default:
    a finished progress message or an error)."""
    return asyncio.run(_watch(url, send or [], timeout_s, done))


def jsonl(lines: list[Any]) -> bytes:
    """Encode a list of lines: dicts become JSON, strings stay as they are."""
    return "".join(
        (json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines
    ).encode()
