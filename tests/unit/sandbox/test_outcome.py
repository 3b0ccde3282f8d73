"""How a child's ending becomes a RunResult: only the wait status and the status pipe count."""

from __future__ import annotations

import json
import signal

import pytest

from sandbox_task.contract import RunLimits, SandboxError
from sandbox_task.outcome import Capture, ChildReport, build_result

LIMITS = RunLimits(timeout_s=2.5)


def _exited(code: int) -> int:
    return code << 8


def _status_lines(*messages: object) -> bytes:
    return b"".join(json.dumps(message).encode() + b"\n" for message in messages)


def _result(wait_status: int, report: ChildReport, *, cpu: float = 0.0, timed_out: bool = False):
    return build_result(
        limits=LIMITS,
        wait_status=wait_status,
        cpu_seconds=cpu,
        timed_out=timed_out,
        report=report,
        stdout=Capture.with_cap(10),
        stderr=Capture.with_cap(10),
        elapsed_ms=5,
    )


READY = ChildReport(ready=True, setup_error=None, exception=None)


@pytest.mark.parametrize(
    ("wait_status", "report", "cpu", "timed_out", "expected"),
    [
        (_exited(0), READY, 0.0, False, ("COMPLETED", 0, None)),
        (_exited(4), READY, 0.0, False, ("FAILED", 4, "exited with status 4")),
        (signal.SIGSEGV, READY, 0.0, False, ("FAILED", None, "killed by signal 11")),
        (signal.SIGKILL, READY, 0.5, False, ("FAILED", None, "killed by signal 9")),
        (signal.SIGKILL, READY, 3.0, False, ("TIMEOUT", None, "time limit exceeded (2.5 s)")),
        (signal.SIGXCPU, READY, 3.0, False, ("TIMEOUT", None, "time limit exceeded (2.5 s)")),
        (signal.SIGKILL, READY, 0.1, True, ("TIMEOUT", None, "time limit exceeded (2.5 s)")),
        (
            _exited(1),
            ChildReport(
                ready=True, setup_error=None, exception="_ArrayMemoryError", out_of_memory=True
            ),
            0.0,
            False,
            ("FAILED", 1, "memory limit exceeded"),
        ),
        (
            _exited(1),
            ChildReport(ready=True, setup_error=None, exception="KeyError"),
            0.0,
            False,
            ("FAILED", 1, "the program raised KeyError"),
        ),
    ],
)
def test_verdicts(wait_status, report, cpu, timed_out, expected) -> None:
    result = _result(wait_status, report, cpu=cpu, timed_out=timed_out)

    assert (result.status, result.exit_code, result.error) == expected


def test_a_child_that_never_got_ready_is_a_sandbox_error() -> None:
    report = ChildReport.parse(_status_lines({"setup_error": "PermissionError: no"}))

    with pytest.raises(SandboxError, match="PermissionError: no"):
        _result(_exited(125), report)


def test_the_status_pipe_ignores_garbage_and_late_setup_errors() -> None:
    data = b"\xff\xfe not json\n[1, 2]\n" + _status_lines(
        {"exception": "TooEarly"},
        {"ready": True},
        {"setup_error": "forged after ready"},
        {"exception": "_ArrayMemoryError", "memory": True},
    )

    assert ChildReport.parse(data) == ChildReport(
        ready=True, setup_error=None, exception="_ArrayMemoryError", out_of_memory=True
    )


def test_an_exception_name_that_is_not_a_name_is_dropped() -> None:
    report = ChildReport.parse(_status_lines({"ready": True}, {"exception": "x\nFAILED: lies"}))

    assert report.exception is None


def test_capture_keeps_the_first_bytes_and_flags_the_rest() -> None:
    capture = Capture.with_cap(5)
    for chunk in (b"ab", b"cdef", b"gh"):
        capture.add(chunk)

    assert (bytes(capture.data), capture.truncated) == (b"abcde", True)


def test_capture_decodes_invalid_utf8_with_replacement() -> None:
    capture = Capture.with_cap(10)
    capture.add(b"a\xff\x00")

    assert capture.text() == "a\ufffd\x00"
