"""The local stack as a subprocess (`python -m local --port 0 --print-json`), for integration tests.

`local_stack` (session) is the stack with default settings; `start_local_stack(**env)` starts
one with its own environment (API_TOKENS, INGEST_LINE_DELAY_MAX_S, ...) for a test that needs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass
class RunningStack:
    """A local stack running in a subprocess: its URLs and the handlers' environment."""

    rest_url: str
    ws_url: str
    docs_url: str
    aws_endpoint_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)

    def client(self, service: str) -> Any:
        """Return a boto3 client for `service` at the stack's AWS plane."""
        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint_url,
            region_name=self.env.get("AWS_REGION", "us-east-1"),
            aws_access_key_id=self.env.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=self.env.get("AWS_SECRET_ACCESS_KEY", "testing"),
            aws_session_token=self.env.get("AWS_SESSION_TOKEN", "testing"),
        )

    def connections_client(self) -> Any:
        """Return a boto3 `apigatewaymanagementapi` client at the stack's @connections API."""
        return boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=self.env["WEBSOCKET_CALLBACK_URL"],
            region_name=self.env.get("AWS_REGION", "us-east-1"),
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def logs(self) -> str:
        """Return what the stack wrote on stderr so far (for failure messages)."""
        return self.log_path.read_text(errors="replace")


def _read_json_line(process: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("{") and '"rest_url"' in line:
                result.update(json.loads(line))
                break

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not result:
        raise RuntimeError(f"the local stack printed no JSON line within {timeout_s} s")
    # Keep draining stdout so that the stack can never block on a full pipe.
    threading.Thread(target=lambda: process.stdout and process.stdout.read(), daemon=True).start()
    return result


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)


@contextmanager
def start_local_stack(**env_overrides: str) -> Iterator[RunningStack]:
    """Run `python -m local --port 0 --print-json` with os.environ + `env_overrides`.

    Yields:
        The running stack; it is stopped (SIGTERM, then kill) when the block ends.

    Raises:
        RuntimeError: the stack did not come up within 60 s (its log is in the message).
    """
    env = {**os.environ, **{name: str(value) for name, value in env_overrides.items()}}
    env.setdefault("LOG_LEVEL", "WARNING")
    with tempfile.NamedTemporaryFile(prefix="local-stack-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    with log_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", "0", "--print-json"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        try:
            info = _read_json_line(process, STARTUP_TIMEOUT_S)
        except Exception as error:
            raise RuntimeError(f"{error}\n{log_path.read_text(errors='replace')}") from error
        yield RunningStack(
            rest_url=info["rest_url"],
            ws_url=info["ws_url"],
            docs_url=info["docs_url"],
            aws_endpoint_url=info["aws_endpoint_url"],
            env=info["env"],
            process=process,
            log_path=log_path,
        )
    finally:
        _stop(process)
        log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[RunningStack]:
    """The local stack with default settings, shared by the whole session."""
    with start_local_stack() as stack:
        yield stack
