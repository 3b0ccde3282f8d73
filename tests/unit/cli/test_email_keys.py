"""`horizon keys ...` and `horizon email ...`: the bodies they send, what they show."""

from __future__ import annotations

import json

import httpx

KEY = {
    "key_id": "k1",
    "tenant": "acme",
    "tier": "free",
    "role": "member",
    "name": None,
    "created_at": "2026-12-07T00:00:00Z",
    "revoked_at": None,
}


def test_keys_create_list_revoke(cli, api) -> None:
    api.on("POST", "/api/v1/keys", {**KEY, "key": "hzn_k1_secret"}, status=201)
    api.on("GET", "/api/v1/keys", {"keys": [KEY], "next_cursor": None})
    api.on("DELETE", "/api/v1/keys/k1", {**KEY, "revoked_at": "2026-12-07T01:00:00Z"})
    created = cli("keys", "create", "--tenant", "acme", "--tier", "pro", "--name", "ci")
    assert created.exit_code == 0, created.output
    assert "hzn_k1_secret" in created.stdout
    assert api.bodies("POST", "/api/v1/keys") == [
        {"tenant": "acme", "tier": "pro", "role": "member", "name": "ci"}
    ]
    assert json.loads(cli("keys", "list", "--json").stdout)[0]["key_id"] == "k1"
    assert "revoked k1" in cli("keys", "revoke", "k1").stdout


def test_email_add_send_status(cli, api, tmp_path) -> None:
    template = tmp_path / "letter.txt"
    template.write_text("Dear {name},")
    api.on(
        "POST",
        "/nonprofits",
        {"email": "a@helpers.org", "name": "A", "address": "1 Lane", "created_at": "now"},
        status=201,
    )
    api.on(
        "POST",
        "/send-email",
        {"job_id": "m1", "status": "queued", "total_emails": 1, "message": "queued"},
        status=202,
    )
    api.on(
        "GET",
        "/jobs/m1/status",
        {"job_id": "m1", "status": "completed", "total_emails": 1, "sent": 1, "failed": 0},
    )
    api.on("DELETE", "/nonprofits/a@helpers.org", lambda request: httpx.Response(204))
    assert cli("email", "add", "a@Helpers.ORG", "--name", "A", "--address", "1 Lane").exit_code == 0
    sent = cli(
        "email",
        "send",
        "--to",
        "a@helpers.org",
        "--template",
        f"@{template}",
        "--subject",
        "Hi {name}",
    )
    assert sent.exit_code == 0, sent.output
    assert api.bodies("POST", "/send-email") == [
        {"emails": ["a@helpers.org"], "template": "Dear {name},", "subject": "Hi {name}"}
    ]
    assert "sent" in cli("email", "status", "m1").stdout
    assert cli("email", "remove", "a@helpers.org").exit_code == 0
