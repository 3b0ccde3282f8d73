"""What goes into a sandboxed run and what comes out.

Shared by the fork server, its client and the execution worker; it imports nothing heavy (the
limits' numbers come from `horizon.executions.limits`, which the API validates against).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The limits' defaults and caps, re-exported for the runner's users. A request can only choose
# numbers within them: nothing widens the sandbox itself.
from horizon.executions.limits import (
    DEFAULT_MEMORY_MB,
    DEFAULT_OUTPUT_BYTES,
    DEFAULT_TIMEOUT_S,
    MAX_MEMORY_MB,
    MAX_OUTPUT_BYTES,
    MAX_TIMEOUT_S,
)

RunStatus = Literal["COMPLETED", "FAILED", "TIMEOUT"]

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_OUTPUT_BYTES",
    "DEFAULT_TIMEOUT_S",
    "MAX_MEMORY_MB",
    "MAX_OUTPUT_BYTES",
    "MAX_TIMEOUT_S",
    "RunLimits",
    "RunRequest",
    "RunResult",
    "RunStatus",
    "SandboxError",
]


@dataclass(frozen=True)
class RunLimits:
    """Resource limits of one run.

    Attributes:
        timeout_s: wall clock from the child's start; past it everything the run started is
            killed and the result is TIMEOUT.
        memory_mb: address space the run may add to what the preloaded interpreter maps.
        output_bytes: bytes kept of stdout and of stderr each; the rest is dropped and the
            result says `truncated`.
        processes: processes and threads the run's uid may have at once.
        file_bytes: the largest file the run may write.
        open_files: descriptors the run may hold.
    """

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    output_bytes: int = DEFAULT_OUTPUT_BYTES
    processes: int = 32
    file_bytes: int = 16 * 1024 * 1024
    open_files: int = 64


@dataclass(frozen=True)
class RunRequest:
    """One run: the code, what it reads on stdin, its limits."""

    run_id: str
    code: str
    stdin: str = ""
    limits: RunLimits = field(default_factory=RunLimits)


@dataclass(frozen=True)
class RunResult:
    """What a run produced.

    Attributes:
        status: COMPLETED (exit code 0), FAILED (any other ending) or TIMEOUT.
        stdout, stderr: the output, decoded as UTF-8 with invalid bytes replaced.
        exit_code: the process's exit status; None when it was killed by a signal.
        error: for FAILED and TIMEOUT, what happened in words ("time limit exceeded (10 s)",
            "memory limit exceeded", "killed by signal 9", "exited with status 1"); None when
            COMPLETED. Never internals of the sandbox.
        execution_time_ms: wall clock of the run.
        truncated: stdout or stderr went past `output_bytes`.
        uid: the uid the run had (for logs, and for tests that check what it left).
    """

    status: RunStatus
    stdout: str
    stderr: str
    exit_code: int | None
    error: str | None
    execution_time_ms: int
    truncated: bool
    uid: int | None = None


class SandboxError(Exception):
    """The sandbox itself failed (the server died, a pipe broke), not the user's code.

    The worker retries the execution for this, never for anything the code did.
    """
