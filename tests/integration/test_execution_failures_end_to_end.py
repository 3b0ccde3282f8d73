"""An execution whose message the execute queue gives up on ends FAILED through the local stack:
the redrive to the DLQ, the DLQ's poller and the execution_failures handler, as `make up` runs
them (no sandbox workers, so nothing else touches the execution)."""

from __future__ import annotations

import httpx

from horizon import wiring
from tests.integration.conftest import start_local_stack
from tests.integration.test_executions_end_to_end import wait_for_execution


def test_an_execution_whose_message_reaches_the_dlq_ends_failed_and_frees_the_owner():
    with start_local_stack(LOCAL_SANDBOX_WORKERS="0") as stack:
        health = httpx.get(f"{stack.rest_url}/_local/health", timeout=10).json()
        assert health["pollers"][wiring.EXECUTE_DLQ]["alive"] >= 1, health
        session = httpx.post(
            f"{stack.rest_url}/code-sessions", json={"source_code": "print(1)"}, timeout=10
        ).json()
        run = httpx.post(
            f"{stack.rest_url}/code-sessions/{session['session_id']}/run", timeout=10
        ).json()
        sqs = stack.client("sqs")
        queue_url = stack.env[wiring.EXECUTE_QUEUE.env]
        # Workers that vanish on every delivery: each receive counts, then SQS moves the message.
        for _ in range(wiring.EXECUTE_QUEUE.max_receive_count):
            received = sqs.receive_message(
                QueueUrl=queue_url, VisibilityTimeout=0, WaitTimeSeconds=1
            )
            assert received.get("Messages"), "the execute message went missing"
        assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)

        body = wait_for_execution(stack.rest_url, run["execution_id"], timeout_s=20)

        assert (body["status"], body["error"]) == (
            "FAILED",
            "no sandbox worker could take the execution",
        ), stack.logs()
        assert [t["status"] for t in body["transitions"]] == ["QUEUED", "FAILED"]
        owners = stack.client("dynamodb").scan(
            TableName=stack.env[wiring.EXECUTIONS.env],
            FilterExpression="begins_with(pk, :owner)",
            ExpressionAttributeValues={":owner": {"S": "OWNER#"}},
        )["Items"]
        assert [o["active"]["N"] for o in owners] == ["0"]  # never ran, so never counted running
