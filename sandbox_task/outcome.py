"""Turning how a run's child ended into a RunResult.

Only the wait status, the CPU time the kernel accounted and the child's status pipe are
used, never the run's stdout or stderr: what the code prints cannot change the verdict.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
from dataclasses import dataclass

from sandbox_task.contract import RunLimits, RunResult, RunStatus, SandboxError

_EXCEPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,199}")


@dataclass
class Capture:
    """Bytes kept from one output stream, up to a cap; the rest is counted and dropped."""

    cap: int
    data: bytearray
    truncated: bool = False

    @classmethod
    def with_cap(cls, cap: int) -> Capture:
        return cls(cap=cap, data=bytearray())

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[: max(room, 0)]
        self.data += chunk

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ChildReport:
    """What the child said on its status pipe."""

    ready: bool
    setup_error: str | None
    exception: str | None
    # The exception was a MemoryError or a subclass (numpy raises its own).
    out_of_memory: bool = False

    @classmethod
    def parse(cls, data: bytes) -> ChildReport:
        """Read the status lines; anything malformed is ignored (user code can write there)."""
        ready = out_of_memory = False
        setup_error = exception = None
        for line in data.splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if message.get("ready") is True:
                ready = True
            elif not ready and isinstance(message.get("setup_error"), str):
                setup_error = message["setup_error"][:500]
            elif ready and isinstance(message.get("exception"), str):
                name = message["exception"]
                exception = name if _EXCEPTION_NAME.fullmatch(name) else None
                out_of_memory = message.get("memory") is True
        return cls(
            ready=ready, setup_error=setup_error, exception=exception, out_of_memory=out_of_memory
        )


def cpu_limit_seconds(limits: RunLimits) -> int:
    """The RLIMIT_CPU soft limit the child sets for these limits."""
    return max(1, math.ceil(limits.timeout_s))


def build_result(
    *,
    limits: RunLimits,
    wait_status: int,
    cpu_seconds: float,
    timed_out: bool,
    report: ChildReport,
    stdout: Capture,
    stderr: Capture,
    elapsed_ms: int,
    uid: int | None = None,
) -> RunResult:
    """Decide status, exit code and error of a finished run.

    Raises:
        SandboxError: the child failed before the user's code started.
    """
    if not report.ready and not timed_out:
        reason = report.setup_error or f"wait status {wait_status}"
        raise SandboxError(f"the run could not be set up: {reason}")
    status, exit_code, error = _verdict(limits, wait_status, cpu_seconds, timed_out, report)
    return RunResult(
        status=status,
        stdout=stdout.text(),
        stderr=stderr.text(),
        exit_code=exit_code,
        error=error,
        execution_time_ms=elapsed_ms,
        truncated=stdout.truncated or stderr.truncated,
        uid=uid,
    )


def _verdict(
    limits: RunLimits,
    wait_status: int,
    cpu_seconds: float,
    timed_out: bool,
    report: ChildReport,
) -> tuple[RunStatus, int | None, str | None]:
    time_limit = f"time limit exceeded ({limits.timeout_s:g} s)"
    if timed_out:
        return "TIMEOUT", None, time_limit
    if os.WIFSIGNALED(wait_status):
        number = os.WTERMSIG(wait_status)
        over_cpu = cpu_seconds >= cpu_limit_seconds(limits)
        if number == signal.SIGXCPU or (number == signal.SIGKILL and over_cpu):
            return "TIMEOUT", None, time_limit
        return "FAILED", None, f"killed by signal {number}"
    exit_code = os.waitstatus_to_exitcode(wait_status)
    if exit_code == 0:
        return "COMPLETED", 0, None
    if report.out_of_memory:
        return "FAILED", exit_code, "memory limit exceeded"
    if report.exception:
        return "FAILED", exit_code, f"the program raised {report.exception}"
    return "FAILED", exit_code, f"exited with status {exit_code}"
