"""What can go wrong, one exception per failure mode, each with its documented exit code.

Commands raise these; `horizon_cli.main.HorizonGroup` turns one into a one-line message on
stderr and the exit code, never a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of `horizon` (README.md, "Command line"). `task` and `exec` exit with
    the program's own code once it ran."""

    OK = 0
    FAILED = 1  # the work ran and failed: a failed job, failed batch tasks
    USAGE = 2  # bad flags or configuration (also click's code for usage errors)
    REFUSED = 3  # 401/403: the key is missing, unknown, revoked, or may not do this
    NOT_FOUND = 4
    RATE_LIMITED = 5  # 429: retry after Retry-After seconds
    UNREACHABLE = 6  # no answer: server down, wrong URL, timeout, connection lost for good
    API_ERROR = 7  # any other error answer (422, 413, 5xx, ...)
    INTERRUPTED = 130  # Ctrl-C before the work gave its own exit code


class CliError(Exception):
    """A failure to report in one line; `exit_code` says which."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageProblem(CliError):
    exit_code = ExitCode.USAGE


class Refused(CliError):
    exit_code = ExitCode.REFUSED


class NotFound(CliError):
    exit_code = ExitCode.NOT_FOUND


class RateLimited(CliError):
    exit_code = ExitCode.RATE_LIMITED

    def __init__(self, message: str, retry_after_s: int | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unreachable(CliError):
    exit_code = ExitCode.UNREACHABLE


class ApiError(CliError):
    exit_code = ExitCode.API_ERROR

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class WorkFailed(CliError):
    """The work ran and did not succeed; `exit_code` may be the work's own."""

    def __init__(self, message: str, exit_code: int = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[assignment]
