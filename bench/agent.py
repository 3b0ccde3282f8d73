"""(d) Agent tasks through the local stack: output latency and push efficiency.

- latency: a task prints a timestamped line every 20 ms; for every line, the time from its
  print to its arrival at a WebSocket client (same machine, same clock), p50 and p99;
- volume: a task writes 10 MB; the client checks it arrived complete and in order and
  reports the pushes and the average bytes per push.

Starts `python -m local --port 0 --print-json` as a subprocess (real handlers; each task a
subprocess of it, as Fargate would run it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time
from typing import Any

import websockets

from bench.local_stack import start_stack, stop_stack

LATENCY_LINES = 200
VOLUME_BYTES = 10 * 1024 * 1024
GOALS = {"p50_ms": 150, "p99_ms": 400, "bytes_per_push": 16 * 1024}

_LATENCY_TASK = (
    '`python3 -c "import time\nfor i in range({n}):\n    print(repr(time.time()), flush=True)'
    '\n    time.sleep(0.02)"`'
)
# 10 MB of numbered 100-byte lines: content that can be checked for order and loss.
_VOLUME_TASK = (
    "`python3 -c \"import sys\nfor i in range({n}):\n    sys.stdout.write(f'{{i:09d}}'.ljust(99, 'x') + "
    "'\\n')\"`"
)


async def _collect(url: str, task: str, on_output: Any = None) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with websockets.connect(url, open_timeout=10, max_size=2**20) as socket:
        await socket.send(json.dumps({"task": task}))
        async with asyncio.timeout(300):
            async for frame in socket:
                arrived = time.time()
                message = json.loads(frame)
                received.append(message)
                if on_output and message.get("type") == "output":
                    on_output(message, arrived)
                if message.get("type") in ("exit", "error"):
                    break
    return received


def _data(message: dict[str, Any]) -> bytes:
    if message.get("encoding") == "base64":
        return base64.b64decode(message["data"])
    return str(message["data"]).encode()


def _latency(url: str) -> dict[str, Any]:
    latencies: list[float] = []

    def on_output(message: dict[str, Any], arrived: float) -> None:
        if message["stream"] != "stdout":
            return
        for line in _data(message).decode().splitlines():
            latencies.append((arrived - float(line)) * 1000)

    messages = asyncio.run(_collect(url, _LATENCY_TASK.format(n=LATENCY_LINES), on_output))
    latencies.sort()
    if not latencies:
        return {"error": f"no output arrived; last messages: {messages[-3:]}"}
    return {
        "lines": len(latencies),
        "status": messages[-1].get("status"),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "max_ms": round(latencies[-1], 1),
    }


def _volume(url: str) -> dict[str, Any]:
    lines = VOLUME_BYTES // 100
    started = time.perf_counter()
    messages = asyncio.run(_collect(url, _VOLUME_TASK.format(n=lines)))
    seconds = time.perf_counter() - started
    outputs = [m for m in messages if m.get("type") == "output" and m["stream"] == "stdout"]
    data = b"".join(_data(m) for m in outputs)
    expected = b"".join(f"{i:09d}".ljust(99, "x").encode() + b"\n" for i in range(lines))
    seqs = [m["seq"] for m in messages if "seq" in m]
    return {
        "bytes": len(data),
        "complete_and_in_order": data == expected and seqs == list(range(1, len(seqs) + 1)),
        "status": messages[-1].get("status"),
        "pushes": len(outputs),
        "bytes_per_push": round(len(data) / max(1, len(outputs))),
        "seconds": round(seconds, 2),
        "mb_per_s": round(len(data) / 1e6 / seconds, 2),
    }


def run() -> dict[str, Any]:
    """Run both measurements against a fresh local stack; returns the figures."""
    try:
        process, info = start_stack()
    except RuntimeError as error:
        return {"error": str(error)}
    try:
        url = f"{info['ws_url']}/task"
        return {"latency": _latency(url), "volume": _volume(url), "goals": GOALS}
    finally:
        stop_stack(process)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
