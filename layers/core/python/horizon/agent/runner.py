"""Runs one step as its own process group, streaming raw stdout/stderr through a coalescer.

The child gets a new session (`start_new_session`), so cancel, timeout and the output cap
kill it and everything it started: SIGTERM to the group, SIGKILL after a grace period, well
inside the 2 s the protocol promises. The loop is single-threaded (a selector over both
pipes), which keeps the order of output and the bookkeeping simple.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from horizon.agent.coalescer import Coalescer
from horizon.agent.models import Stream

READ_BYTES = 64 * 1024
RECENT_BYTES = 8 * 1024  # the tail of a step's output kept for the Bedrock agent
TERM_GRACE_S = 1.0  # SIGTERM → SIGKILL; the whole stop stays under 2 s
# After the main process exits, how long its pipes may stay open (a background child
# holding them) before the group is stopped.
LINGER_S = 0.5


class StopReason(StrEnum):
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    OUTPUT_CAP = "output_cap"


@dataclass(frozen=True)
class StepResult:
    """How a step ended: its exit code (128+signal when killed) and why it was stopped."""

    exit_code: int
    stopped: StopReason | None = None


@dataclass
class Limits:
    """What bounds a step: the task's deadline (monotonic), output budget, polling."""

    deadline: float
    output_budget: int
    poll_interval_s: float = 0.25


def exit_code_of(returncode: int) -> int:
    """Return the shell's convention for a process's status: 128+N when killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def kill_group(process: subprocess.Popen[bytes], grace_s: float = TERM_GRACE_S) -> None:
    """Stop the process's whole group: SIGTERM, then SIGKILL after `grace_s`."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace_s)
    # Members other than the leader may linger even when the leader exited.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class StepRunner:
    """Runs steps, feeding their output to a coalescer.

    Args:
        coalescer: receives raw output as it is read.
        poll: called about every `Limits.poll_interval_s`; returns a reason to stop (a cancel
            request) or None. Also the place where the caller does periodic work.
    """

    def __init__(self, coalescer: Coalescer, poll: Callable[[], StopReason | None]) -> None:
        self._coalescer = coalescer
        self._poll = poll
        self.output_bytes = 0
        self.recent = bytearray()  # the last RECENT_BYTES of the latest step's output

    def run(
        self, argv: tuple[str, ...], cwd: Path, env: Mapping[str, str], limits: Limits
    ) -> StepResult:
        """Run `argv` in `cwd` until it exits or must stop.

        Raises:
            OSError: the program could not be started (not found, not executable).
        """
        self.recent.clear()
        process = subprocess.Popen(  # noqa: S603 - argv comes from the planner, no shell here
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stopped = self._pump(process, limits)
        except BaseException:
            kill_group(process, 0.1)
            raise
        finally:
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
        if stopped is not None:
            kill_group(process)
        process.wait()
        return StepResult(exit_code_of(process.returncode or 0), stopped)

    def _pump(self, process: subprocess.Popen[bytes], limits: Limits) -> StopReason | None:
        selector = selectors.DefaultSelector()
        streams: dict[int, Stream] = {}
        for pipe, stream in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            assert pipe is not None
            os.set_blocking(pipe.fileno(), False)
            selector.register(pipe.fileno(), selectors.EVENT_READ)
            streams[pipe.fileno()] = stream  # type: ignore[assignment]
        next_poll = time.monotonic() + limits.poll_interval_s
        exited_at: float | None = None
        try:
            while streams:
                now = time.monotonic()
                waits = [next_poll - now, limits.deadline - now]
                due = self._coalescer.due_in()
                if due is not None:
                    waits.append(due)
                if exited_at is not None:
                    waits.append(exited_at + LINGER_S - now)
                for key, _ in selector.select(max(0.0, min(waits))):
                    fd = int(key.fd)  # type: ignore[arg-type]
                    try:
                        data = os.read(fd, READ_BYTES)
                    except BlockingIOError:
                        continue
                    if not data:
                        selector.unregister(fd)
                        streams.pop(fd)
                        continue
                    room = limits.output_budget - self.output_bytes
                    self.output_bytes += len(data)
                    self._coalescer.feed(streams[fd], data[: max(0, room)])
                    self.recent += data
                    del self.recent[:-RECENT_BYTES]
                    if len(data) > room:
                        return StopReason.OUTPUT_CAP
                now = time.monotonic()
                due = self._coalescer.due_in()
                if due is not None and due <= 0:
                    self._coalescer.flush()
                if now >= limits.deadline:
                    return StopReason.TIMEOUT
                if now >= next_poll:
                    next_poll = now + limits.poll_interval_s
                    reason = self._poll()
                    if reason is not None:
                        return reason
                if exited_at is None and process.poll() is not None:
                    exited_at = now
                elif exited_at is not None and now >= exited_at + LINGER_S:
                    # The leader is gone but something it started holds the pipes open.
                    kill_group(process, 0.2)
                    exited_at = float("inf")
            return None
        finally:
            selector.close()
