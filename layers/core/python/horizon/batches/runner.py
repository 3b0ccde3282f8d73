"""Runs one batch task with the agent's offline planner, each step a process of its own.

What the agent's task process does for a WebSocket task, for a batch: the same planner, step
runner, clean step environment and word counter, with the batch worker's limits: http(s) URLs
only, never a metadata address nor the Lambda Runtime API (every URL of the task is checked
before anything runs, and the word counter checks again on each request and redirect), a time
limit, an output cap.
Output is kept as the tail of each stream; word counts become a structured `result`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from horizon.agent.coalescer import Coalescer
from horizon.agent.exceptions import PlanError
from horizon.agent.isolation import step_env
from horizon.agent.models import Step, Stream
from horizon.agent.planner import WORDCOUNT_MODULE, OfflinePlanner, Planner, urls_in
from horizon.agent.runner import Limits, StepRunner, StopReason
from horizon.agent.urlguard import UrlRefusedError, check_url, runtime_api
from horizon.batches.models import TaskStatus
from horizon.batches.settings import BatchSettings, get_batch_settings

EXIT_NOT_STARTED = 127  # the shell's "command not found"
_COUNT_LINE = re.compile(r"^(\d+) (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ended, as stored on its record."""

    status: TaskStatus
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    result: Any = None


class _Capture:
    """The coalescer's sink: all of stdout (for results, up to the output cap) and stderr."""

    def __init__(self) -> None:
        self.streams: dict[Stream, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}

    def __call__(self, stream: Stream, data: bytes) -> None:
        self.streams[stream] += data

    def text(self, stream: Stream) -> str:
        return self.streams[stream].decode("utf-8", errors="replace")


def _tail(text: str, chars: int) -> str:
    return text if len(text) <= chars else "…" + text[-chars:]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def word_count_result(steps: list[Step], stdout: str) -> Any:
    """Return {"url", "words"} for one word-counted URL, a list for several, or None."""
    urls = [step.argv[-1] for step in steps if WORDCOUNT_MODULE in step.argv]
    if not urls:
        return None
    counts = {url: int(words) for words, url in _COUNT_LINE.findall(stdout)}
    found = [{"url": url, "words": counts[url]} for url in urls if url in counts]
    if len(urls) == 1:
        return found[0] if found else None
    return found


class TaskRunner:
    """Runs batch tasks.

    Args:
        settings: the batch settings; read from the environment when omitted.
        planner: the planner; the offline planner in web-only mode when omitted.
    """

    def __init__(
        self, settings: BatchSettings | None = None, planner: Planner | None = None
    ) -> None:
        self.settings = settings or get_batch_settings()
        # Read here, in the worker: the steps' clean environment does not carry it.
        self.runtime_api = runtime_api()
        options = ["--web-only", "--timeout", str(self.settings.fetch_timeout_s)]
        if self.runtime_api is not None:
            options += ["--runtime-api", str(self.runtime_api)]
        self.planner = planner or OfflinePlanner(tuple(options))

    def run(self, task: str, time_limit_s: float) -> TaskOutcome:
        """Plan and run `task` within `time_limit_s` seconds; never raises for the task's faults."""
        try:
            steps = self.planner.plan(task)
            for url in urls_in(task):
                check_url(url, runtime_api=self.runtime_api)
        except PlanError as error:
            return TaskOutcome(TaskStatus.FAILED, error=str(error))
        except UrlRefusedError as error:
            return TaskOutcome(TaskStatus.FAILED, error=f"refused: {error}")
        capture = _Capture()
        coalescer = Coalescer(capture, interval_s=1.0, max_bytes=64 * 1024)
        scratch = Path(tempfile.mkdtemp(prefix="batch-task-"))
        try:
            status, exit_code, error = self._run_steps(
                steps, coalescer, scratch, time.monotonic() + time_limit_s, time_limit_s
            )
        finally:
            coalescer.flush(final=True)
            shutil.rmtree(scratch, ignore_errors=True)
        stdout, stderr = capture.text("stdout"), capture.text("stderr")
        if status is TaskStatus.FAILED and error is None:
            error = _last_line(stderr) or f"exit code {exit_code}"
        tail = self.settings.output_tail_chars
        return TaskOutcome(
            status=status,
            exit_code=exit_code,
            stdout=_tail(stdout, tail),
            stderr=_tail(stderr, tail),
            error=error,
            result=word_count_result(steps, stdout) if status is TaskStatus.COMPLETED else None,
        )

    def _run_steps(
        self,
        steps: list[Step],
        coalescer: Coalescer,
        scratch: Path,
        deadline: float,
        time_limit_s: float,
    ) -> tuple[TaskStatus, int | None, str | None]:
        runner = StepRunner(coalescer, lambda: None)
        limits = Limits(
            deadline=deadline, output_budget=self.settings.output_cap_bytes, poll_interval_s=0.5
        )
        cwd, env = scratch, step_env(scratch)
        exit_code: int | None = 0
        for step in steps:
            try:
                result = runner.run(step.argv, cwd, env, limits)
            except OSError as error:
                return TaskStatus.FAILED, EXIT_NOT_STARTED, f"{step.label}: {error}"
            exit_code = result.exit_code
            if result.stopped is StopReason.TIMEOUT:
                return (
                    TaskStatus.TIMEOUT,
                    exit_code,
                    f"{step.label}: stopped at the task's time limit of {time_limit_s:g} s",
                )
            if result.stopped is not None:
                cap = self.settings.output_cap_bytes
                return TaskStatus.FAILED, exit_code, f"{step.label}: output cap of {cap} bytes"
            if exit_code != 0:
                return TaskStatus.FAILED, exit_code, None
            if step.enters:
                cwd = cwd / step.enters
        return TaskStatus.COMPLETED, exit_code, None
