"""Fixtures of the batch tests: the services on moto, and SQS events in Lambda's shape.

Events are built the way the local stack's poller builds them (`build_sqs_event`) from
messages received from the provisioned queues, so receipt handles, attributes and the source
ARN are real; `tests/events/batch_task_sqs.json` is the sample of that shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.batch_failures import handler as failures_handler
from functions.batch_fanout import handler as fanout_handler
from functions.batch_worker import handler as worker_handler
from horizon import wiring
from horizon.batches.service import BatchService
from horizon.batches.settings import get_batch_settings, reset_batch_settings
from horizon.batches.store import BatchStore
from local.pollers import build_sqs_event
from tests.conftest import REGION, FakeLambdaContext

OWNER = "tenant-a"


@pytest.fixture(autouse=True)
def fresh_services(monkeypatch):
    """The handlers' services are made once per process; each test has tables of its own.
    Retries come back at once (no backoff) so a test can receive them again."""
    monkeypatch.setenv("BATCH_RETRY_BASE_S", "0")
    reset_batch_settings()
    for module in (fanout_handler, worker_handler, failures_handler):
        module.get_service.cache_clear()
    yield
    for module in (fanout_handler, worker_handler, failures_handler):
        module.get_service.cache_clear()
    reset_batch_settings()


@pytest.fixture
def service(aws) -> BatchService:
    return BatchService()


@pytest.fixture
def store(aws) -> BatchStore:
    return BatchStore()


class Queues:
    """Receive from the provisioned queues as Lambda would and invoke the real handlers."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws

    def url(self, key: str) -> str:
        return self.aws.provisioned.queue_urls[key]

    def receive(self, key: str, count: int = 10) -> list[dict[str, Any]]:
        return self.aws.sqs.receive_message(
            QueueUrl=self.url(key),
            MaxNumberOfMessages=min(count, 10),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def event(self, key: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return build_sqs_event(messages, self.aws.provisioned.queue_arns[key], REGION)

    def delete(self, key: str, messages: list[dict[str, Any]], response: Any) -> None:
        failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.aws.sqs.delete_message(
                    QueueUrl=self.url(key), ReceiptHandle=message["ReceiptHandle"]
                )

    def deliver(
        self, key: str, handler: Callable[[dict[str, Any], Any], Any], messages: list[dict]
    ) -> Any:
        """Invoke `handler` with the messages and delete those it did not report failed."""
        response = handler(self.event(key, messages), FakeLambdaContext(timeout_s=300))
        self.delete(key, messages, response)
        return response

    def drain(self, key: str, handler: Callable[[dict[str, Any], Any], Any]) -> int:
        """Deliver until the queue is empty; returns how many messages were delivered."""
        delivered = 0
        while messages := self.receive(key):
            self.deliver(key, handler, messages)
            delivered += len(messages)
        return delivered

    def run_batch(self) -> None:
        """Fan out every posted batch and run every task to its end."""
        self.drain("batch_fanout", fanout_handler.handler)
        self.drain("batch_tasks", worker_handler.handler)


@pytest.fixture
def queues(aws) -> Queues:
    get_batch_settings()
    return Queues(aws)


TASKS_DLQ = wiring.BATCH_TASKS_DLQ
