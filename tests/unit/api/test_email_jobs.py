"""The email-job routes on moto: nonprofits, /send-email's checks, the job's status and emails."""

from __future__ import annotations

import pytest
from moto.ses.models import ses_backends

from horizon.email_jobs.settings import reset_email_settings
from horizon.email_jobs.worker import EmailWorker

ACCOUNT = "123456789012"


def register(
    client, headers=None, email="info@redcross.org", name="Red Cross", address="1 Main St"
):
    return client.post(
        "/nonprofits", json={"email": email, "name": name, "address": address}, headers=headers
    )


def drain(aws) -> int:
    """Run the worker over every message of the email queue, as the trigger would."""
    worker, handled = EmailWorker(), 0
    url = aws.provisioned.queue_urls["email"]
    while True:
        messages = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return handled
        for message in messages:
            worker.handle(message["Body"])
            aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1


def test_nonprofit_crud_with_normalised_addresses(client):
    created = register(client, email="Info@RedCross.ORG")
    assert created.status_code == 201
    assert created.json()["email"] == "Info@redcross.org"
    assert register(client, email="Info@redcross.org").status_code == 409
    assert client.get("/nonprofits/Info@REDCROSS.org").json()["name"] == "Red Cross"
    patched = client.patch("/nonprofits/Info@redcross.org", json={"name": "The Red Cross"})
    assert patched.json()["name"] == "The Red Cross"
    assert client.delete("/nonprofits/Info@redcross.org").status_code == 204
    assert client.get("/nonprofits/Info@redcross.org").status_code == 404
    assert client.patch("/nonprofits/x@y.org", json={"name": "n"}).status_code == 404
    assert client.delete("/nonprofits/x@y.org").status_code == 404
    assert register(client, email="not-an-address").status_code == 422
    assert client.post("/nonprofits", json={"email": "a@b.org"}).status_code == 422


def test_list_by_domain_pages_through_the_key(client):
    for address in ("a@one.org", "b@one.org", "c@one.org", "a@two.org", "a@one.org.uk"):
        assert register(client, email=address).status_code == 201
    first = client.get("/nonprofits", params={"domain": "ONE.org", "limit": 2}).json()
    assert [n["email"] for n in first["nonprofits"]] == ["a@one.org", "b@one.org"]
    rest = client.get(
        "/nonprofits", params={"domain": "one.org", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [n["email"] for n in rest["nonprofits"]] == ["c@one.org"]
    everything = client.get("/nonprofits").json()["nonprofits"]
    assert len(everything) == 5
    assert set(everything[0]) == {"email", "name", "address", "created_at"}
    assert client.get("/nonprofits", params={"cursor": "garbage"}).status_code == 422


def test_send_email_end_to_end_through_the_worker(client, aws):
    for i in range(3):
        register(client, email=f"org{i}@example.org", name=f"Org {i}", address=f"{i} Road")
    answer = client.post(
        "/send-email",
        json={
            "emails": [f"org{i}@example.org" for i in range(3)],
            "template": "Dear {name}, at {address} ({email}).",
            "subject": "Hello {name}",
            "cc": ["Board@Example.org"],
        },
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "queued" and body["total_emails"] == 3
    assert answer.headers["X-RateLimit-Limit"] == "5"
    job_id = body["job_id"]
    assert client.get(f"/jobs/{job_id}/status").json()["status"] == "queued"
    assert drain(aws) == 1
    status = client.get(f"/jobs/{job_id}/status").json()
    assert status["status"] == "completed"
    assert (status["sent"], status["failed"], status["total_emails"]) == (3, 0, 3)
    assert status["completed_at"]
    emails = client.get(f"/jobs/{job_id}/emails").json()["emails"]
    assert [e["body"] for e in emails] == [
        f"Dear Org {i}, at {i} Road (org{i}@example.org)." for i in range(3)
    ]
    assert all(e["cc"] == ["Board@example.org"] and e["message_id"] for e in emails)
    sent = ses_backends[ACCOUNT]["us-east-1"].sent_messages
    assert sorted(m.destinations["ToAddresses"][0] for m in sent) == [
        f"org{i}@example.org" for i in range(3)
    ]
    assert sent[0].destinations["CcAddresses"] == ["Board@example.org"]
    assert [j["job_id"] for j in client.get("/jobs").json()["jobs"]] == [job_id]


def test_a_redelivered_message_sends_nothing_twice(client, aws):
    register(client, email="a@example.org")
    job_id = client.post(
        "/send-email", json={"emails": ["a@example.org"], "template": "Hi {name}"}
    ).json()["job_id"]
    url = aws.provisioned.queue_urls["email"]
    message = aws.sqs.receive_message(QueueUrl=url)["Messages"][0]
    worker = EmailWorker()
    worker.handle(message["Body"])
    worker.handle(message["Body"])  # redelivered
    status = client.get(f"/jobs/{job_id}/status").json()
    assert (status["status"], status["sent"], status["failed"]) == ("completed", 1, 0)
    assert len(ses_backends[ACCOUNT]["us-east-1"].sent_messages) == 1


@pytest.mark.parametrize(
    "template",
    ["{name.__class__}", "{0}", "{name[0]}", "{name!r}", "{name:>10}", "{password}", "{"],
)
def test_templates_that_reach_past_the_fields_are_refused(client, aws, template):
    register(client, email="a@example.org")
    answer = client.post("/send-email", json={"emails": ["a@example.org"], "template": template})
    assert answer.status_code == 422
    assert "detail" in answer.json()
    assert client.get("/jobs").json()["jobs"] == []


def test_unknown_recipients_are_named_and_nothing_is_queued(client, aws):
    register(client, email="a@example.org")
    answer = client.post(
        "/send-email",
        json={"emails": ["a@example.org", "ghost@example.org"], "template": "Hi {name}"},
    )
    assert answer.status_code == 404
    assert "ghost@example.org" in answer.json()["detail"]
    assert client.get("/jobs").json()["jobs"] == []
    url = aws.provisioned.queue_urls["email"]
    assert "Messages" not in aws.sqs.receive_message(QueueUrl=url)


def test_limits_on_recipients_and_template_size(client, aws, monkeypatch):
    monkeypatch.setenv("EMAIL_MAX_RECIPIENTS", "2")
    monkeypatch.setenv("EMAIL_MAX_TEMPLATE_BYTES", "10")
    reset_email_settings()
    emails = ["a@example.org", "b@example.org", "c@example.org"]
    assert client.post("/send-email", json={"emails": emails, "template": "x"}).status_code == 413
    big = client.post("/send-email", json={"emails": emails[:1], "template": "x" * 11})
    assert big.status_code == 413
    assert client.post("/send-email", json={"emails": [], "template": "x"}).status_code == 422


def test_the_rate_limit_answers_429_with_retry_after(client, aws, monkeypatch):
    monkeypatch.setenv("EMAIL_RATE_LIMIT_PER_MINUTE", "2")
    reset_email_settings()
    register(client, email="a@example.org")
    request = {"emails": ["a@example.org"], "template": "Hi"}
    assert client.post("/send-email", json=request).status_code == 202
    assert client.post("/send-email", json=request).headers["X-RateLimit-Remaining"] == "0"
    refused = client.post("/send-email", json=request)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "send-email per minute" in refused.json()["detail"]


def test_idempotency_key_answers_the_same_job(client, aws):
    register(client, email="a@example.org")
    request = {"emails": ["a@example.org"], "template": "Hi"}
    first = client.post("/send-email", json=request, headers={"Idempotency-Key": "k1"}).json()
    again = client.post("/send-email", json=request, headers={"Idempotency-Key": "k1"}).json()
    assert first["job_id"] == again["job_id"]
    assert len(client.get("/jobs").json()["jobs"]) == 1
    other = client.post(
        "/send-email", json={**request, "template": "Bye"}, headers={"Idempotency-Key": "k1"}
    )
    assert other.status_code == 422


def test_owners_are_isolated(client, aws, tenants):
    a, b = tenants["a"], tenants["b"]
    register(client, a, email="a@example.org")
    assert client.get("/nonprofits/a@example.org", headers=b).status_code == 404
    assert client.get("/nonprofits", headers=b).json()["nonprofits"] == []
    refused = client.post(
        "/send-email", json={"emails": ["a@example.org"], "template": "Hi"}, headers=b
    )
    assert refused.status_code == 404
    job_id = client.post(
        "/send-email", json={"emails": ["a@example.org"], "template": "Hi"}, headers=a
    ).json()["job_id"]
    assert client.get(f"/jobs/{job_id}/status", headers=b).status_code == 404
    assert client.get(f"/jobs/{job_id}/emails", headers=b).status_code == 404
    assert client.get("/jobs", headers=b).json()["jobs"] == []
    assert register(client, b, email="a@example.org").status_code == 201


def test_a_cursor_that_is_not_ours_is_422(client, aws):
    for cursor in ("\u00e9", "bm90IGpzb24"):
        assert client.get("/nonprofits", params={"cursor": cursor}).status_code == 422
        assert client.get("/jobs", params={"cursor": cursor}).status_code == 422
    # A cursor outside the listed items' key range ({"sk": "X"}) is refused too.
    assert client.get("/jobs", params={"cursor": "eyJzayI6ICJYIn0="}).status_code == 422
