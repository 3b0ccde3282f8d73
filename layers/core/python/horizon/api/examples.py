"""Examples of request bodies and success answers for the OpenAPI document (`/docs`).

Kept here rather than on the models: the models belong to their capabilities, and what makes
a good example (ids that look real, one item per page) is a matter of the documentation.
Examples are keyed by the component schema they illustrate, so every operation answering,
say, a `CodeSession` shows the same one; bodies without a component are keyed by operation.
`tests/unit/api/test_openapi.py` checks every example against its schema.
"""

from __future__ import annotations

from typing import Any

JOB_ID = "3f2b8c1e-5d7a-4c2e-9b1f-0a6d8e4c2b71"
STAMP = "2026-11-22T09:30:00.000Z"
LATER = "2026-11-22T09:30:04.512Z"
LINKS = {
    "self": f"/api/v1/jobs/{JOB_ID}",
    "entries": f"/api/v1/jobs/{JOB_ID}/entries",
    "errors": f"/api/v1/jobs/{JOB_ID}/errors",
}
JOB = {
    "job_id": JOB_ID,
    "kind": "ingest",
    "file_name": "app.jsonl",
    "size_bytes": 52_431,
    "status": "completed",
    "percent": 100,
    "lines": 1000,
    "valid": 998,
    "invalid": 2,
    "created_at": STAMP,
    "started_at": STAMP,
    "finished_at": LATER,
    "error": None,
    "seq": 12,
}
EXECUTION_ID = "ex_7d1e4b2a9c"
SESSION = {
    "session_id": "cs_5b3f9a1d27",
    "status": "ACTIVE",
    "language": "python",
    "source_code": "import pandas as pd\nprint(pd.Series([1, 2, 3]).sum())\n",
    "version": 3,
    "created_at": STAMP,
    "updated_at": LATER,
}
KEY = {
    "key_id": "0123456789abcdef",
    "tenant": "acme",
    "tier": "free",
    "role": "member",
    "name": "ci",
    "created_at": STAMP,
    "revoked_at": None,
}
NONPROFIT = {
    "email": "contact1@helpers.org",
    "name": "Helpers 1",
    "address": "1 Charity Lane",
    "created_at": STAMP,
}
EMAIL_JOB = {
    "job_id": "ej_2c8f6a0b91",
    "status": "completed",
    "total_emails": 3,
    "sent": 3,
    "failed": 0,
    "created_at": STAMP,
    "completed_at": LATER,
    "error": None,
}
BATCH_ID = "b_9e2d4f6a18"
COUNTS = {"queued": 0, "running": 1, "completed": 1, "failed": 0, "timeout": 0}
QUERY_ANSWER = {
    "metric": "p95",
    "field": "response_time_ms",
    "value": 412.5,
    "n": 998,
    "window": None,
    "windows": None,
    "rows": None,
    "source": "aggregates",
    "exact": True,
}

# Component schema name → example.
BY_SCHEMA: dict[str, Any] = {
    # Requests.
    "PresignCreate": {"file_name": "big.jsonl", "size_bytes": 734_003_200},
    "QueryBody": {
        "job_ids": [JOB_ID],
        "metric": "p95",
        "field": "response_time_ms",
        "filter": {"service": "checkout", "http_status": {"gte": 500}},
    },
    "ExecuteBody": {"language": "python", "code": "print(sum(range(10)))", "timeout_s": 5},
    "RunBody": {"stdin": "42\n", "timeout_s": 5},
    "SessionCreate": {"language": "python", "source_code": "print('hello')\n"},
    "SessionPatch": {"source_code": "print('hello, world')\n", "version": 3},
    "KeyCreate": {"tenant": "acme", "tier": "free", "role": "member", "name": "ci"},
    "NonprofitCreate": {
        "email": "contact1@Helpers.ORG",
        "name": "Helpers 1",
        "address": "1 Charity Lane",
    },
    "NonprofitPatch": {"address": "2 Charity Lane"},
    "SendEmailBody": {
        "emails": ["contact1@helpers.org", "contact2@helpers.org"],
        "subject": "Hello {name}",
        "template": "Dear {name},\nwe will visit {address}.\nReply to {email}.",
        "cc": [],
    },
    "Body_upload_file_api_v1_files_upload_post": {"file": "app.jsonl (the file's bytes)"},
    # Answers.
    "UploadAccepted": {
        "job_id": JOB_ID,
        "status": "queued",
        "file_name": "app.jsonl",
        "size_bytes": 52_431,
        "links": LINKS,
    },
    "PresignCreated": {
        "job_id": JOB_ID,
        "status": "queued",
        "file_name": "big.jsonl",
        "upload": {
            "url": "https://horizon-uploads.s3.amazonaws.com/",
            "fields": {"key": f"uploads/acme/{JOB_ID}/big.jsonl", "policy": "eyJ…"},
            "method": "POST",
            "expires_in": 900,
        },
        "links": LINKS,
    },
    "horizon__api__models__JobPage": {"items": [JOB], "next_cursor": None},
    "JobPublic": JOB,
    "EntryPage": {
        "items": [
            {
                "line": 1,
                "timestamp": "2026-11-22T09:00:00Z",
                "level": "ERROR",
                "service": "checkout",
                "http_status": 502,
                "response_time_ms": 812.4,
            }
        ],
        "next_cursor": "eyJsaW5lIjogMX0",
    },
    "InvalidLinePage": {
        "items": [{"line": 7, "reason": "missing timestamp", "raw": '{"level": "INFO"}'}],
        "next_cursor": None,
    },
    "Liveness": {"status": "ok"},
    "Readiness": {
        "status": "ready",
        "checks": {
            "dynamodb:jobs": {"status": "ok", "latency_ms": 4.1},
            "s3:uploads": {"status": "ok", "latency_ms": 11.8},
            "sqs:ingest": {"status": "ok", "latency_ms": 6.3},
        },
    },
    "QueryAnswer": QUERY_ANSWER,
    "ExecutionPublic": {
        "execution_id": EXECUTION_ID,
        "status": "COMPLETED",
        "language": "python",
        "session_id": None,
        "timestamps": {"QUEUED": STAMP, "RUNNING": STAMP, "COMPLETED": LATER},
        "transitions": [
            {"status": "QUEUED", "at": STAMP, "attempt": 0},
            {"status": "RUNNING", "at": STAMP, "attempt": 1},
            {"status": "COMPLETED", "at": LATER, "attempt": 1},
        ],
        "stdout": "45\n",
        "stderr": "",
        "exit_code": 0,
        "error": None,
        "execution_time_ms": 38,
        "truncated": False,
    },
    "ExecutionAccepted": {"execution_id": EXECUTION_ID, "status": "QUEUED"},
    "CodeSession": SESSION,
    "KeyCreated": {**KEY, "key": "hzn_0123456789abcdef_" + "s" * 43},
    "KeyPage": {"keys": [KEY], "next_cursor": None},
    "KeyPublic": {**KEY, "revoked_at": LATER},
    "BatchAccepted": {
        "batch_id": BATCH_ID,
        "status": "queued",
        "task_count": 2,
        "status_url": f"/batch/{BATCH_ID}",
    },
    "BatchList": {
        "batches": [
            {
                "batch_id": BATCH_ID,
                "status": "running",
                "task_count": 2,
                "counts": COUNTS,
                "created_at": STAMP,
                "completed_at": None,
                "status_url": f"/batch/{BATCH_ID}",
            }
        ],
        "next_cursor": None,
    },
    "BatchPublic": {
        "batch_id": BATCH_ID,
        "status": "running",
        "task_count": 2,
        "counts": COUNTS,
        "created_at": STAMP,
        "completed_at": None,
        "tasks": [
            {
                "index": 0,
                "task": "echo hi",
                "client_ref": "greeting",
                "status": "completed",
                "exit_code": 0,
                "stdout": "hi\n",
                "stderr": "",
                "error": None,
                "attempts": 1,
                "started_at": STAMP,
                "ended_at": LATER,
            }
        ],
        "next_cursor": None,
    },
    "Nonprofit": NONPROFIT,
    "NonprofitPage": {"nonprofits": [NONPROFIT], "next_cursor": None},
    "JobAccepted": {
        "job_id": EMAIL_JOB["job_id"],
        "status": "queued",
        "total_emails": 2,
        "message": "2 emails queued; poll /jobs/ej_2c8f6a0b91/status",
    },
    "horizon__email_jobs__models__JobPage": {"jobs": [EMAIL_JOB], "next_cursor": None},
    "JobStatusPublic": EMAIL_JOB,
    "EmailPage": {
        "emails": [
            {
                "to": "contact1@helpers.org",
                "cc": [],
                "subject": "Hello Helpers 1",
                "body": "Dear Helpers 1,\nwe will visit 1 Charity Lane.\nReply to contact1@helpers.org.",
                "status": "sent",
                "message_id": "0100018c-5e7f-4a2b-9c1d-7e3f5a9b2c4d-000000",
                "sent_at": LATER,
                "error": None,
            }
        ],
        "next_cursor": None,
    },
}

_GRAPHQL_ANSWER = {"data": {"job": {"status": "completed", "progress": 100}}}
# (method, path) → {"request": example, "<status>": example}, for bodies without a component.
BY_OPERATION: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/batch"): {"request": ["echo hi", {"task": "sleep 1", "client_ref": "nap"}]},
    ("post", "/code-sessions/{session_id}/run"): {"request": BY_SCHEMA["RunBody"]},
    ("post", "/graphql"): {
        "request": {
            "query": "query($id: ID!) { job(id: $id) { status progress } }",
            "variables": {"id": JOB_ID},
        },
        "200": _GRAPHQL_ANSWER,
    },
    ("get", "/graphql"): {"200": _GRAPHQL_ANSWER},
    ("get", "/metrics"): {
        "200": '# TYPE horizon_jobs gauge\nhorizon_jobs{status="completed"} 12\n',
    },
}


def _schema_name(media: dict[str, Any]) -> str | None:
    ref = str(media.get("schema", {}).get("$ref", ""))
    return ref.rsplit("/", 1)[-1] or None


def _add_example(media: dict[str, Any], explicit: Any) -> None:
    if "example" in media or "examples" in media:
        return
    example = explicit if explicit is not None else BY_SCHEMA.get(_schema_name(media) or "")
    if example is not None:
        media["example"] = example


def document_examples(document: dict[str, Any]) -> dict[str, Any]:
    """Add an example to every request body and success answer that has none (in place)."""
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            own = BY_OPERATION.get((method, path), {})
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _add_example(media, own.get("request"))
            for status, answer in operation.get("responses", {}).items():
                if status.startswith("2"):
                    for media in answer.get("content", {}).values():
                        _add_example(media, own.get(status))
    return document
