"""(g) Email jobs end to end through the local stack's REST API.

Registers 1,000 nonprofits, then times `POST /send-email` to all of them until
`GET /jobs/{id}/status` says completed (validation, 20 queue messages of 50 recipients, the
worker's claim/send/settle per recipient against moto's SES); and the API's answer time of
`POST /send-email` for 1 recipient and for 1,000 (median of a few requests each).

Starts `python -m local --port 0 --print-json` as a subprocess with a rate limit high enough
for the benchmark's own requests.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from bench.local_stack import start_stack, stop_stack

RECIPIENTS = 1000
ANSWER_RUNS = 5


def _register(client: httpx.Client, count: int) -> list[str]:
    addresses = [f"org{i:04d}@bench{i % 10}.org" for i in range(count)]
    for address in addresses:
        response = client.post(
            "/nonprofits", json={"email": address, "name": f"Org {address}", "address": "1 Road"}
        )
        if response.status_code not in (201, 409):
            raise RuntimeError(f"registering failed: {response.status_code} {response.text}")
    return addresses


def _send(client: httpx.Client, addresses: list[str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = client.post(
        "/send-email", json={"emails": addresses, "template": "Dear {name} at {address}"}
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 202:
        raise RuntimeError(f"send-email failed: {response.status_code} {response.text}")
    return elapsed_ms, response.json()


def _wait(client: httpx.Client, job_id: str, timeout_s: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(f"/jobs/{job_id}/status").json()
        if status["status"] in ("completed", "failed"):
            return status
        time.sleep(0.2)
    raise RuntimeError(f"job {job_id} did not finish within {timeout_s} s")


def run(recipients: int = RECIPIENTS) -> dict[str, Any]:
    """Measure; returns the figures (or an `error`)."""
    try:
        process, info = start_stack(EMAIL_RATE_LIMIT_PER_MINUTE="1000")
    except RuntimeError as error:
        return {"error": str(error)}
    try:
        with httpx.Client(base_url=info["rest_url"], timeout=60) as client:
            addresses = _register(client, recipients)
            started = time.perf_counter()
            _, accepted = _send(client, addresses)
            status = _wait(client, accepted["job_id"])
            seconds = time.perf_counter() - started
            one = [_send(client, addresses[:1])[0] for _ in range(ANSWER_RUNS)]
            many = [_send(client, addresses)[0] for _ in range(ANSWER_RUNS)]
            return {
                "recipients": recipients,
                "status": status["status"],
                "sent": status["sent"],
                "failed": status["failed"],
                "seconds_to_completed": round(seconds, 2),
                "emails_per_s": round(status["sent"] / seconds, 1),
                "answer_ms_1_recipient": round(statistics.median(one), 1),
                "answer_ms_1000_recipients": round(statistics.median(many), 1),
            }
    except (RuntimeError, httpx.HTTPError) as error:
        return {"error": str(error)}
    finally:
        stop_stack(process)


def markdown(results: dict[str, Any]) -> list[str]:
    out = ["## (g) Email jobs through the local stack", ""]
    if "error" in results:
        return [*out, f"Not measured: {results['error']}", ""]
    return [
        *out,
        f"{results['recipients']:,} recipients from `POST /send-email` to `{results['status']}` "
        f"(sent {results['sent']:,}, failed {results['failed']}): "
        f"**{results['seconds_to_completed']} s**, {results['emails_per_s']:,} emails/s.",
        "",
        "| POST /send-email answer (median) | ms |",
        "|---|---|",
        f"| 1 recipient | {results['answer_ms_1_recipient']} |",
        f"| 1,000 recipients | {results['answer_ms_1000_recipients']} |",
        "",
    ]
