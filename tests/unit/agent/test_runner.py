"""The step runner: real processes, process groups, timeout, cancel, output cap."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from horizon.agent.coalescer import Coalescer
from horizon.agent.runner import Limits, StepRunner, StopReason

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def _run(
    script: str,
    tmp_path: Path,
    timeout_s: float = 10,
    budget: int = 10**8,
    stop_after_s: float | None = None,
) -> tuple[list[tuple[str, bytes]], object, float]:
    chunks: list[tuple[str, bytes]] = []
    coalescer = Coalescer(lambda s, d: chunks.append((s, d)), interval_s=0.05)
    started = time.monotonic()

    def poll() -> StopReason | None:
        if stop_after_s is not None and time.monotonic() - started > stop_after_s:
            return StopReason.CANCELLED
        return None

    runner = StepRunner(coalescer, poll)
    result = runner.run(
        ("/bin/sh", "-c", script),
        tmp_path,
        ENV,
        Limits(time.monotonic() + timeout_s, budget, poll_interval_s=0.05),
    )
    coalescer.flush(final=True)
    return chunks, result, time.monotonic() - started


def _joined(chunks: list[tuple[str, bytes]], stream: str) -> bytes:
    return b"".join(d for s, d in chunks if s == stream)


def test_streams_are_kept_apart_and_the_exit_code_reported(tmp_path: Path) -> None:
    chunks, result, _ = _run("echo out; echo err >&2; pwd; exit 7", tmp_path)
    assert _joined(chunks, "stdout") == f"out\n{tmp_path}\n".encode()
    assert _joined(chunks, "stderr") == b"err\n"
    assert result.exit_code == 7 and result.stopped is None


def test_output_arrives_while_the_process_runs(tmp_path: Path) -> None:
    arrivals: list[float] = []
    started = time.monotonic()
    coalescer = Coalescer(lambda s, d: arrivals.append(time.monotonic() - started), 0.05)
    StepRunner(coalescer, lambda: None).run(
        ("/bin/sh", "-c", "echo a; sleep 0.6; echo b"),
        tmp_path,
        ENV,
        Limits(time.monotonic() + 10, 10**6),
    )
    coalescer.flush(final=True)
    assert len(arrivals) == 2
    assert arrivals[0] < 0.4  # the first line did not wait for the end


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    script = f"(sleep 3; touch {marker}) & sleep 30"
    _, result, elapsed = _run(script, tmp_path, timeout_s=0.5)
    assert result.stopped is StopReason.TIMEOUT
    assert elapsed < 0.5 + 2
    time.sleep(3.2)
    assert not marker.exists(), "a child of the step outlived the timeout"


def test_cancel_stops_within_two_seconds_even_when_sigterm_is_ignored(tmp_path: Path) -> None:
    _, result, elapsed = _run("trap '' TERM; sleep 30", tmp_path, stop_after_s=0.3)
    assert result.stopped is StopReason.CANCELLED
    assert result.exit_code == 128 + 9
    assert elapsed < 0.3 + 2


def test_output_cap_stops_the_step_and_keeps_exactly_the_budget(tmp_path: Path) -> None:
    chunks, result, _ = _run("yes 0123456789", tmp_path, budget=100_000)
    assert result.stopped is StopReason.OUTPUT_CAP
    assert len(_joined(chunks, "stdout")) == 100_000


def test_raw_bytes_pass_unchanged(tmp_path: Path) -> None:
    chunks, result, _ = _run(r"printf '\377\376ok\n'", tmp_path)
    assert _joined(chunks, "stdout") == b"\xff\xfeok\n"
    assert result.exit_code == 0


def test_a_background_child_holding_the_pipes_does_not_hang_the_step(tmp_path: Path) -> None:
    _, result, elapsed = _run("sleep 30 & echo started", tmp_path)
    assert result.exit_code == 0 and result.stopped is None
    assert elapsed < 3


def test_a_missing_program_raises(tmp_path: Path) -> None:
    runner = StepRunner(Coalescer(lambda s, d: None), lambda: None)
    with pytest.raises(OSError):
        runner.run(("/no/such/program",), tmp_path, ENV, Limits(time.monotonic() + 5, 100))
