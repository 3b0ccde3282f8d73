"""One masked JSON log line per request, carrying its correlation id."""

from __future__ import annotations

import io
import json

import pytest

from horizon.observability import logger, mask
from horizon.settings import reset_settings

ADMIN_KEY = "admin-key-for-the-log-tests"


@pytest.fixture
def written_log():
    """What the request logger writes (its handler's stream, pointed at a buffer)."""

    class Written:
        def __init__(self) -> None:
            self.buffer = io.StringIO()

        def readouterr(self):
            text = self.buffer.getvalue()
            self.buffer.seek(0)
            self.buffer.truncate()
            return type("Captured", (), {"out": text})()

    written = Written()
    handlers = [logger(name).registered_handler for name in ("horizon-api", "horizon-test")]
    previous = [handler.setStream(written.buffer) for handler in handlers]
    yield written
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)


def request_lines(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "request"]


def test_the_request_line_carries_the_correlation_id_and_a_masked_key(
    client, aws, monkeypatch, written_log
):
    monkeypatch.setenv("HORIZON_ADMIN_KEY", ADMIN_KEY)
    reset_settings()
    created = client.post(
        "/api/v1/keys", headers={"X-API-Key": ADMIN_KEY}, json={"tenant": "t", "tier": "pro"}
    ).json()
    written_log.readouterr()
    response = client.get(
        "/api/v1/jobs", headers={"X-API-Key": created["key"], "X-Request-Id": "trace-42"}
    )
    assert response.headers["X-Request-Id"] == "trace-42"
    output = written_log.readouterr().out
    assert created["key"] not in output
    (line,) = request_lines(output)
    assert line["correlation_id"] == "trace-42"
    assert line["credential"] == f"hzn_{created['key_id']}_****"
    assert (line["method"], line["route"], line["status"]) == ("GET", "/api/v1/jobs", 200)
    assert line["level"] == "INFO"


def test_the_admin_key_and_bearer_tokens_never_reach_the_log(client, aws, monkeypatch, written_log):
    monkeypatch.setenv("HORIZON_ADMIN_KEY", ADMIN_KEY)
    reset_settings()
    client.get("/api/v1/keys", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    output = written_log.readouterr().out
    assert ADMIN_KEY not in output
    assert request_lines(output)[0]["credential"] == "Bearer ****"


def test_a_made_id_when_none_or_an_odd_one_is_given(client, written_log):
    first = client.get("/health").headers["X-Request-Id"]
    odd = client.get("/health", headers={"X-Request-Id": "no spaces allowed"})
    assert first and odd.headers["X-Request-Id"] not in ("", "no spaces allowed")
    assert first != odd.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("alice@example.org wrote", "a***@example.org wrote"),
        ("key hzn_0123456789abcdef_" + "x" * 43, "key hzn_0123456789abcdef_****"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer ****"),
        ("jwt eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl done", "jwt **** done"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_mask(text, masked):
    assert mask(text) == masked


def test_submitted_code_is_masked_in_structured_fields(written_log):
    logger("horizon-test").info("run", extra={"code": "print('secret')", "execution_id": "e1"})
    line = json.loads(written_log.readouterr().out.splitlines()[-1])
    assert line["code"] == "****"
    assert line["execution_id"] == "e1"


def test_the_request_id_rides_on_the_queue_message_the_request_sends(client, aws):
    response = client.post("/batch", json=["true"], headers={"X-Request-Id": "trace-77"})
    assert response.status_code == 202, response.text
    [message] = aws.sqs.receive_message(
        QueueUrl=aws.provisioned.queue_urls["batch_fanout"], MessageAttributeNames=["All"]
    )["Messages"]
    assert message["MessageAttributes"]["correlation_id"]["StringValue"] == "trace-77"
