"""The local stack as a subprocess for benchmarks: `python -m local --port 0 --print-json`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def start_stack(**extra_env: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start the stack with the real handlers; return the process and its printed URLs.

    Raises:
        RuntimeError: it printed no URLs within a minute.
    """
    env = {**os.environ, "LOG_LEVEL": "WARNING", **extra_env}
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--port", "0", "--print-json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    info: dict[str, Any] = {}

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("{") and '"ws_url"' in line:
                info.update(json.loads(line))
                break
        process.stdout.read()  # keep draining

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    while not info and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    if not info:
        stop_stack(process)
        raise RuntimeError("the local stack did not start")
    return process, info


def stop_stack(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
