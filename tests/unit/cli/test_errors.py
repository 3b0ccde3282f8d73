"""Every failure is one line on stderr and a documented exit code, never a traceback."""

from __future__ import annotations

import json

import httpx

from horizon_cli.errors import ExitCode


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_refused_key_exits_3_with_one_line(cli, api) -> None:
    api.on("GET", "/api/v1/jobs", {"detail": "invalid or revoked API key"}, status=401)
    result = cli("--api-key", "hzn_wrong", "jobs")
    assert result.exit_code == ExitCode.REFUSED
    line = _one_line(result.stderr)
    assert "refused the credential (401): invalid or revoked API key" in line
    assert result.stdout == ""
    assert api.requests[0].headers["Authorization"] == "Bearer hzn_wrong"


def test_a_forbidden_call_exits_3(cli, api) -> None:
    api.on("POST", "/api/v1/keys", {"detail": "admin only"}, status=403)
    result = cli("keys", "create", "--tenant", "acme")
    assert result.exit_code == ExitCode.REFUSED
    assert "(403): admin only" in _one_line(result.stderr)


def test_rate_limited_says_when_to_retry(cli, api) -> None:
    api.on(
        "GET",
        "/api/v1/jobs/j1",
        {"detail": "rate limit exceeded: free tier daily quota"},
        status=429,
        headers={"Retry-After": "5400"},
    )
    result = cli("job", "j1")
    assert result.exit_code == ExitCode.RATE_LIMITED
    assert "retry in 5400 s" in _one_line(result.stderr)


def test_a_server_that_is_down_cannot_be_reached(cli, api) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    api.on("GET", "/api/v1/jobs", refuse)
    result = cli("jobs")
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "cannot reach http://api.test" in _one_line(result.stderr)


def test_not_found_and_validation_errors(cli, api) -> None:
    api.on("GET", "/api/v1/jobs/nope", {"detail": "job nope not found"}, status=404)
    assert cli("job", "nope").exit_code == ExitCode.NOT_FOUND
    api.on(
        "POST",
        "/api/v1/query",
        {"detail": [{"loc": ["body", "metric"], "msg": "unknown metric 'median'"}]},
        status=422,
    )
    result = cli("query", "j1", "--metric", "median")
    assert result.exit_code == ExitCode.API_ERROR
    assert "422: metric: unknown metric 'median'" in _one_line(result.stderr)


def test_with_json_the_error_is_a_json_line(cli, api) -> None:
    api.on("GET", "/api/v1/jobs", {"detail": "nope"}, status=401)
    result = cli("--json", "jobs")
    error = json.loads(_one_line(result.stderr))
    assert error["exit_code"] == ExitCode.REFUSED


def test_a_bug_is_one_line_too(cli, api) -> None:
    api.on("GET", "/api/v1/jobs/j1", lambda request: httpx.Response(200, text="not json"))
    result = cli("job", "j1")
    assert result.exit_code == ExitCode.FAILED
    assert "unexpected error" in _one_line(result.stderr)


def test_usage_errors_exit_2(cli) -> None:
    result = cli("query", "j1", "--where", "what")
    assert result.exit_code == ExitCode.USAGE
    assert "FIELD OP VALUE" in _one_line(result.stderr)
    assert cli("--url", "ftp://x", "jobs").exit_code == ExitCode.USAGE
