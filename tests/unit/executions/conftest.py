"""Fixtures of the execution tests: the store and service on moto, and a scripted sandbox."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from horizon.executions.service import ExecutionService
from horizon.executions.settings import get_execution_settings, reset_execution_settings
from horizon.executions.store import ExecutionStore
from sandbox_task.contract import RunRequest, RunResult, SandboxError


def completed(stdout: str = "", **overrides: object) -> RunResult:
    fields: dict[str, object] = {
        "status": "COMPLETED",
        "stdout": stdout,
        "stderr": "",
        "exit_code": 0,
        "error": None,
        "execution_time_ms": 3,
        "truncated": False,
    }
    fields.update(overrides)
    return RunResult(**fields)  # type: ignore[arg-type]


@dataclass
class ScriptedSandbox:
    """Stands in for `sandbox_task.client.Sandbox`: each run takes the next scripted answer
    (a RunResult, or a SandboxError to raise); with the script empty it echoes the code."""

    script: list[RunResult | SandboxError] = field(default_factory=list)
    requests: list[RunRequest] = field(default_factory=list)
    isolation_in_effect: str = "scripted"
    gate: threading.Event | None = None

    def run(self, request: RunRequest) -> RunResult:
        self.requests.append(request)
        if self.gate is not None:
            self.gate.wait(10)
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, SandboxError):
                raise answer
            return answer
        return completed(stdout=f"ran {len(request.code)} chars\n")


@pytest.fixture
def settings_env(aws, monkeypatch):
    """Apply environment overrides to the execution settings: `settings_env(NAME=value)`."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_execution_settings()

    return apply


@pytest.fixture
def store(aws) -> ExecutionStore:
    return ExecutionStore()


@pytest.fixture
def service(aws) -> ExecutionService:
    return ExecutionService()


@pytest.fixture
def queued_ids(aws) -> Callable[[], list[str]]:
    """Read (and delete) the execution ids waiting on the execute queue."""
    import orjson

    def read() -> list[str]:
        url = get_execution_settings().execute_queue_url
        ids = []
        while True:
            messages = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return ids
            for message in messages:
                ids.append(orjson.loads(message["Body"])["execution_id"])
                aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    return read
