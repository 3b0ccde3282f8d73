"""`upload` (direct, presigned, --watch), `jobs`, `job`, `entries`, `errors`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.unit.cli.conftest import send

JOB = {
    "job_id": "j1",
    "kind": "ingest",
    "file_name": "app.jsonl",
    "size_bytes": 30,
    "status": "completed",
    "percent": 100,
    "lines": 3,
    "valid": 1,
    "invalid": 2,
    "created_at": "2026-12-07T00:00:00Z",
    "started_at": None,
    "finished_at": None,
    "error": None,
    "seq": 4,
}
INVALID = [{"line": 2, "reason": "not valid JSON", "raw": "oops"}]


def _log(tmp_path: Path, size: int = 0) -> Path:
    path = tmp_path / "app.jsonl"
    path.write_text('{"timestamp": "2026-11-22T10:00:00Z"}\n' + "x" * size)
    return path


def test_upload_sends_the_file_and_names_the_job(cli, api, tmp_path: Path) -> None:
    api.on("POST", "/api/v1/files/upload", {"job_id": "j1", "status": "queued"}, status=202)
    result = cli("upload", str(_log(tmp_path)))
    assert result.exit_code == 0, result.output
    assert "job j1 queued" in result.stdout
    sent = api.requests[0]
    assert b'filename="app.jsonl"' in sent.content
    assert b"application/x-ndjson" in sent.content


def test_too_large_for_the_api_goes_to_s3_without_the_key(cli, api, tmp_path: Path) -> None:
    api.on("POST", "/api/v1/files/upload", {"detail": "too large"}, status=413)
    presigned = {
        "job_id": "j2",
        "status": "queued",
        "file_name": "app.jsonl",
        "upload": {
            "url": "http://s3.test/bucket",
            "fields": {"key": "k", "Content-Type": "application/x-ndjson"},
        },
    }
    api.on("POST", "/api/v1/files", presigned, status=201)
    api.on("POST", "/bucket", lambda request: httpx.Response(204))
    result = cli("--api-key", "hzn_secret", "--json", "upload", str(_log(tmp_path)))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["job_id"] == "j2"
    to_s3 = api.requests[-1]
    assert to_s3.url.host == "s3.test"
    assert "Authorization" not in to_s3.headers
    assert to_s3.content.index(b'name="key"') < to_s3.content.index(b'name="file"')
    assert api.bodies("POST", "/api/v1/files")[0]["file_name"] == "app.jsonl"


def test_upload_watch_follows_progress_then_shows_counts(
    cli, api, ws_server, tmp_path: Path
) -> None:
    async def handler(server, connection) -> None:
        message = await server.receive(connection)
        assert message == {"action": "subscribe", "job_id": "j1"}
        base = {"type": "progress", "job_id": "j1"}
        await send(
            connection,
            {
                **base,
                "seq": 1,
                "status": "processing",
                "percent": 50,
                "lines": 2,
                "valid": 1,
                "invalid": 1,
            },
            {
                **base,
                "seq": 4,
                "status": "completed",
                "percent": 100,
                "lines": 3,
                "valid": 1,
                "invalid": 2,
            },
        )
        await connection.wait_closed()

    server = ws_server(handler)
    api.on("POST", "/api/v1/files/upload", {"job_id": "j1", "status": "queued"}, status=202)
    api.on("GET", "/api/v1/jobs/j1", JOB)
    api.on("GET", "/api/v1/jobs/j1/errors", {"items": INVALID, "next_cursor": None})
    result = cli("upload", str(_log(tmp_path)), "--watch", ws_url=server.url)
    assert result.exit_code == 0, result.output
    assert "job j1 completed: 3 lines, 1 valid, 2 invalid" in result.stdout
    assert "not valid JSON" in result.stdout
    assert "100%" in result.stderr  # the progress bar


def test_a_failed_job_exits_1(cli, api, ws_server, tmp_path: Path) -> None:
    async def handler(server, connection) -> None:
        await server.receive(connection)
        await send(
            connection,
            {"type": "progress", "job_id": "j1", "seq": 2, "status": "failed", "percent": 0},
        )
        await connection.wait_closed()

    server = ws_server(handler)
    api.on("POST", "/api/v1/files/upload", {"job_id": "j1", "status": "queued"}, status=202)
    api.on(
        "GET", "/api/v1/jobs/j1", {**JOB, "status": "failed", "invalid": 0, "error": "unreadable"}
    )
    result = cli("upload", str(_log(tmp_path)), "-w", ws_url=server.url)
    assert result.exit_code == 1
    assert "job j1 failed: unreadable" in result.stderr


def test_jobs_entries_and_errors(cli, api) -> None:
    api.on("GET", "/api/v1/jobs", {"items": [JOB], "next_cursor": None})
    api.on(
        "GET",
        "/api/v1/jobs/j1/entries",
        {
            "items": [{"line": 1, "timestamp": "2026-11-22T10:00:00Z", "region": "eu"}],
            "next_cursor": None,
        },
    )
    api.on("GET", "/api/v1/jobs/j1/errors", {"items": INVALID, "next_cursor": None})
    listed = cli("jobs")
    assert "app.jsonl" in listed.stdout and "completed" in listed.stdout
    entries = cli("entries", "j1", "--json")
    assert json.loads(entries.stdout)[0]["region"] == "eu"
    assert '{"region":"eu"}' in cli("entries", "j1").stdout
    assert "not valid JSON" in cli("errors", "j1").stdout


def test_pages_follow_the_cursor_up_to_the_limit(cli, api) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("cursor") or 0)
        size = int(request.url.params["limit"])
        items = [{**INVALID[0], "line": after + i + 1} for i in range(size)]
        return httpx.Response(200, json={"items": items, "next_cursor": str(after + size)})

    api.on("GET", "/api/v1/jobs/j1/errors", page)
    result = cli("errors", "j1", "--limit", "150", "--json")
    lines = [item["line"] for item in json.loads(result.stdout)]
    assert lines == list(range(1, 151))
    assert [r.url.params["limit"] for r in api.requests] == ["100", "50"]


def test_watch_without_a_websocket_polls_the_job(cli, api, tmp_path: Path, monkeypatch) -> None:
    import horizon_cli.realtime as realtime

    monkeypatch.setattr(realtime, "POLL_FALLBACK_S", 0.01)
    states = iter(["processing", "completed"])
    api.on("POST", "/api/v1/files/upload", {"job_id": "j1", "status": "queued"}, status=202)
    api.on(
        "GET",
        "/api/v1/jobs/j1",
        lambda r: httpx.Response(
            200, json={**JOB, "status": next(states, "completed"), "invalid": 0}
        ),
    )
    # Nothing listens on port 9: the deployed-stack case of a WebSocket URL not configured.
    result = cli("upload", str(_log(tmp_path)), "--watch")
    assert result.exit_code == 0, result.output
    assert "polling the REST API instead" in result.stderr
    assert "job j1 completed" in result.stdout
