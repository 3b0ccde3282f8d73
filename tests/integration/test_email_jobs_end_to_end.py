"""Email jobs through the local stack: real HTTP, the email queue, the worker and moto's SES
(in its sandbox mode: only verified recipients are accepted, as in a new AWS account)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.clients import watch_job
from tests.integration.conftest import RunningStack, start_local_stack

TOKENS = {"a": "token-a", "b": "token-b", "c": "token-c"}
RATE_LIMIT = 3


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with start_local_stack(
        API_TOKENS=",".join(f"{token}=tenant-{name}" for name, token in TOKENS.items()),
        EMAIL_RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT),
        LOCAL_SES_SANDBOX="1",
    ) as running:
        yield running


def call(stack: RunningStack, method: str, path: str, tenant: str = "a", **kwargs: Any):
    headers = {"Authorization": f"Bearer {TOKENS[tenant]}", **kwargs.pop("headers", {})}
    return httpx.request(method, stack.rest_url + path, headers=headers, timeout=30, **kwargs)


def register(stack: RunningStack, email: str, tenant: str = "a", verify: bool = True) -> None:
    answer = call(
        stack,
        "POST",
        "/nonprofits",
        tenant,
        json={"email": email, "name": f"N {email}", "address": "1 St"},
    )
    assert answer.status_code == 201, answer.text
    if verify:  # SES's sandbox accepts only verified recipients
        local, _, domain = email.rpartition("@")
        stack.client("ses").verify_email_identity(EmailAddress=f"{local}@{domain.lower()}")


def wait_for_status(stack: RunningStack, job_id: str, tenant: str = "a", timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while True:
        status = call(stack, "GET", f"/jobs/{job_id}/status", tenant).json()
        if status["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def sent_by_ses(stack: RunningStack) -> list[dict[str, Any]]:
    """The messages moto's SES accepted, from the server's model data."""
    data = httpx.get(f"{stack.aws_endpoint_url}/moto-api/data.json", timeout=30).json()
    return data.get("ses", {}).get("Message", [])


def wait_until_queue_empty(stack: RunningStack, timeout_s: float = 60) -> None:
    sqs = stack.client("sqs")
    url = stack.env["EMAIL_QUEUE_URL"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if all(value == "0" for value in attributes.values()):
            return
        time.sleep(0.1)
    raise AssertionError("the email queue did not drain")


def test_three_nonprofits_get_their_rendered_email(stack):
    addresses = [f"contact{i}@Three.ORG" for i in range(3)]
    for address in addresses:
        register(stack, address)
    answer = call(
        stack,
        "POST",
        "/send-email",
        json={
            "emails": addresses,
            "template": "Dear {name}, we write to {address} ({email}). {{not a field}}",
            "subject": "For {name}",
        },
    )
    assert answer.status_code == 202, answer.text
    assert answer.headers["X-RateLimit-Limit"] == str(RATE_LIMIT)
    job = answer.json()
    assert (job["status"], job["total_emails"]) == ("queued", 3)
    status = wait_for_status(stack, job["job_id"])
    assert (status["status"], status["sent"], status["failed"]) == ("completed", 3, 0)
    emails = call(stack, "GET", f"/jobs/{job['job_id']}/emails").json()["emails"]
    assert [e["body"] for e in emails] == [
        f"Dear N contact{i}@Three.ORG, we write to 1 St (contact{i}@three.org). {{not a field}}"
        for i in range(3)
    ]
    ses_to = [m["destinations"]["ToAddresses"][0] for m in sent_by_ses(stack)]
    for i in range(3):
        assert ses_to.count(f"contact{i}@three.org") == 1

    # Redelivery: the same slice arrives again; nothing is sent or counted twice.
    before = len(sent_by_ses(stack))
    duplicate = {
        "owner": "tenant-a",
        "job_id": job["job_id"],
        "recipients": [{"email": e["to"], "name": "N", "address": "1 St"} for e in emails],
    }
    stack.client("sqs").send_message(
        QueueUrl=stack.env["EMAIL_QUEUE_URL"], MessageBody=json.dumps(duplicate)
    )
    wait_until_queue_empty(stack)
    assert len(sent_by_ses(stack)) == before
    again = call(stack, "GET", f"/jobs/{job['job_id']}/status").json()
    assert (again["sent"], again["failed"], again["status"]) == (3, 0, "completed")


def test_one_recipient_refused_by_ses_is_counted_failed(stack):
    register(stack, "ok@refused.org")
    register(stack, "unverified@refused.org", verify=False)
    job = call(
        stack,
        "POST",
        "/send-email",
        json={"emails": ["ok@refused.org", "unverified@refused.org"], "template": "Hi {name}"},
    ).json()
    status = wait_for_status(stack, job["job_id"])
    assert (status["status"], status["sent"], status["failed"]) == ("completed", 1, 1)
    emails = {
        e["to"]: e for e in call(stack, "GET", f"/jobs/{job['job_id']}/emails").json()["emails"]
    }
    assert emails["ok@refused.org"]["status"] == "sent"
    assert emails["unverified@refused.org"]["status"] == "failed"
    assert "MessageRejected" in emails["unverified@refused.org"]["error"]


# Tenant b's requests stay within the per-minute limit (RATE_LIMIT of them).
INJECTIONS = ["{name.__class__.__init__.__globals__}", "{0}{name[0]}", "{email!r:>10}"]
assert len(INJECTIONS) <= RATE_LIMIT


@pytest.mark.parametrize("template", INJECTIONS)
def test_template_injection_is_refused_before_anything_is_queued(stack, template):
    address = f"inj{INJECTIONS.index(template)}@inject.org"
    register(stack, address, tenant="b")
    answer = call(
        stack, "POST", "/send-email", "b", json={"emails": [address], "template": template}
    )
    assert answer.status_code == 422, answer.text
    assert "may use only" in answer.json()["detail"]
    assert call(stack, "GET", "/jobs", "b").json()["jobs"] == []


def test_unknown_recipients_and_other_owners_nonprofits_are_404(stack):
    register(stack, "mine@owners.org", tenant="a")
    answer = call(
        stack,
        "POST",
        "/send-email",
        "c",
        json={"emails": ["mine@owners.org"], "template": "Hi"},
    )
    assert answer.status_code == 404
    assert "mine@owners.org" in answer.json()["detail"]
    assert call(stack, "GET", "/nonprofits/mine@owners.org", "c").status_code == 404
    assert call(stack, "GET", "/jobs", "c").json()["jobs"] == []
    jobs_of_a = call(stack, "GET", "/jobs", "a").json()["jobs"]
    assert jobs_of_a
    job_id = jobs_of_a[0]["job_id"]
    assert call(stack, "GET", f"/jobs/{job_id}/status", "c").status_code == 404
    assert call(stack, "GET", f"/jobs/{job_id}/emails", "c").status_code == 404


def test_the_rate_limit_refuses_past_the_limit_with_retry_after(stack):
    register(stack, "limited@limits.org", tenant="c")
    request = {"emails": ["limited@limits.org"], "template": "Hi"}
    answers = [call(stack, "POST", "/send-email", "c", json=request) for _ in range(RATE_LIMIT + 1)]
    statuses = [a.status_code for a in answers]
    # A minute may turn between the requests, which only lets one more through.
    assert 429 in statuses or statuses.count(202) == RATE_LIMIT + 1
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert "send-email per minute" in refused.json()["detail"]


def test_a_websocket_subscriber_follows_an_email_job_to_its_end(stack):
    addresses = [f"ws{i:03d}@watch.org" for i in range(120)]  # three queue messages of 50
    for address in addresses:
        register(stack, address, tenant="a")
    job_id = call(
        stack, "POST", "/send-email", "a", json={"emails": addresses, "template": "Hi {name}"}
    ).json()["job_id"]
    received = watch_job(
        f"{stack.ws_url}?token={TOKENS['a']}",
        send=[{"action": "subscribe", "job_id": job_id}],
        timeout_s=60,
    )
    progress = [m for m in received if m.get("type") == "progress"]
    assert progress, received
    assert all(m["kind"] == "email" and m["job_id"] == job_id for m in progress)
    # Slices are sent by parallel invocations, whose pushes may cross: `seq` orders them.
    last = max(progress, key=lambda m: m["seq"])
    assert (last["status"], last["sent"], last["failed"], last["percent"]) == (
        "completed",
        120,
        0,
        100,
    )
    # Another tenant cannot subscribe to it.
    refused = watch_job(
        f"{stack.ws_url}?token={TOKENS['c']}",
        send=[{"action": "subscribe", "job_id": job_id}],
        timeout_s=20,
    )
    assert refused[-1]["type"] == "error" and refused[-1]["code"] == "not_found"


def test_a_slice_in_the_dlq_ends_unsent_and_its_job_ends(stack):
    """A message the email queue gave up on (as after maxReceiveCount failed deliveries) is
    taken by the DLQ's consumer: its recipients end failed with the reason, none is sent, and
    the job leaves `processing`."""
    job_id = "dead-lettered-job"
    addresses = ["gone1@dlq.org", "gone2@dlq.org"]
    stack.client("dynamodb").put_item(
        TableName=stack.env["EMAIL_JOBS_TABLE"],
        Item={
            "pk": {"S": "EMAILJOB#tenant-a"},
            "sk": {"S": f"JOB#{job_id}"},
            "job_id": {"S": job_id},
            "owner": {"S": "tenant-a"},
            "status": {"S": "processing"},
            "total_emails": {"N": "2"},
            "sent": {"N": "0"},
            "failed": {"N": "0"},
            "done": {"N": "0"},
            "template": {"S": "Hi {name}"},
            "subject": {"S": "For {name}"},
            "cc": {"L": []},
            "created_at": {"S": "2026-12-07T00:00:00+00:00"},
        },
    )
    sqs = stack.client("sqs")
    dlq_name = stack.env["EMAIL_QUEUE_URL"].rsplit("/", 1)[1] + "-dlq"
    dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    before = len(sent_by_ses(stack))
    sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody=json.dumps(
            {
                "owner": "tenant-a",
                "job_id": job_id,
                "recipients": [{"email": a, "name": "N", "address": "1 St"} for a in addresses],
            }
        ),
    )
    status = wait_for_status(stack, job_id)
    assert (status["status"], status["sent"], status["failed"]) == ("failed", 0, 2)
    assert status["error"] == "no email could be sent"
    emails = call(stack, "GET", f"/jobs/{job_id}/emails").json()["emails"]
    assert [(e["to"], e["status"]) for e in emails] == [(a, "failed") for a in addresses]
    assert all("email queue gave up after 5 deliveries" in e["error"] for e in emails)
    assert len(sent_by_ses(stack)) == before
    assert call(stack, "GET", f"/jobs/{job_id}/status", "b").status_code == 404
