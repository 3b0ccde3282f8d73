"""Lambda's SQS event source mappings, locally: pollers that receive, invoke, delete.

Semantics (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html):
a batch whose handler returns normally is deleted, except the `batchItemFailures` it names
(ReportBatchItemFailures); a handler that raises, or names an id outside the batch, leaves the
whole batch on the queue. Leftovers come back after the visibility timeout and the queue's
redrive policy moves them to the DLQ after `maxReceiveCount` receives. A trigger may name a DLQ
(`wiring.dead_letter_key`, e.g. the execute queue's): it is polled like any other queue.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from horizon import wiring

log = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], Any]
# Lambda's own pollers long-poll 20 s. Each empty receive costs both sides a few milliseconds
# of this process's CPU; a one-second poll made the idle pollers a steady load that slowed
# whatever else ran. Stopping does not wait for an idle long poll (see `PollerGroup.stop`).
WAIT_TIME_S = 20
# An external plane (LocalStack, a moto server of its own) outlives a stack that is killed:
# it keeps serving the dead stack's long polls, and each message one of them takes is lost in
# flight until its visibility timeout — and counts as a receive. Twenty seconds of orphaned
# polls could walk a message to its DLQ, so against an external plane the polls are short.
EXTERNAL_PLANE_WAIT_TIME_S = 1


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    # ReceiveMessage says StringValue/BinaryValue/DataType; the Lambda event uses camelCase.
    result = {}
    for name, value in attributes.items():
        result[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return result


def build_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Return the Lambda SQS event for messages as `ReceiveMessage` returned them."""
    records = []
    for message in messages:
        attributes = message.get("Attributes", {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    name: attributes[name]
                    for name in (
                        "ApproximateReceiveCount",
                        "SentTimestamp",
                        "SenderId",
                        "ApproximateFirstReceiveTimestamp",
                        "MessageGroupId",
                        "MessageDeduplicationId",
                        "SequenceNumber",
                        "AWSTraceHeader",
                    )
                    if name in attributes
                },
                "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message.get("MD5OfBody")
                or hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def failed_ids(response: Any, message_ids: list[str]) -> set[str]:
    """Return the ids of the messages to leave on the queue after a handler returned `response`.

    None or no `batchItemFailures` means every message succeeded. A failure entry without an
    id in the batch makes Lambda treat the whole batch as failed.
    """
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return set()
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return set(message_ids)
    ids = {item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures}
    if not ids <= set(message_ids):
        return set(message_ids)
    return {i for i in ids if i is not None}


@dataclass
class PollerConfig:
    """One event source mapping: which queue feeds which function, how."""

    trigger: wiring.QueueTrigger
    queue_url: str
    queue_arn: str
    region: str
    pollers: int | None = None  # consumer threads; the trigger's max_concurrency when None

    @property
    def count(self) -> int:
        return self.pollers or self.trigger.max_concurrency


class Poller:
    """One consumer thread of an event source mapping.

    Args:
        config: the mapping.
        sqs: a boto3 SQS client (thread-safe; one per poller is simplest).
        invoke: calls function key with an event (the local Lambda runtime).
        stop: set to stop: a handler running is waited for; an idle long poll is not.
    """

    def __init__(
        self,
        config: PollerConfig,
        sqs: Any,
        invoke: Invoke,
        stop: threading.Event,
        wait_time_s: int = WAIT_TIME_S,
    ) -> None:
        self.config = config
        self.wait_time_s = wait_time_s
        self.sqs = sqs
        self.invoke = invoke
        self.stop = stop
        # Set while a batch is in hand (from its receive to its deletes).
        self.busy = threading.Event()
        self.thread = threading.Thread(
            target=self.run, name=f"poller-{config.trigger.queue}", daemon=True
        )

    def run(self) -> None:
        """Poll until stopped; errors talking to SQS are logged and retried after a pause."""
        while not self.stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a broken poll must not kill the mapping
                log.exception("poller for %s failed", self.config.trigger.queue)
                self.stop.wait(1.0)

    def poll_once(self) -> int:
        """Receive one batch, invoke the function, delete what succeeded.

        Returns:
            How many messages were received.
        """
        trigger = self.config.trigger
        messages = self.sqs.receive_message(
            QueueUrl=self.config.queue_url,
            MaxNumberOfMessages=min(trigger.batch_size, 10),
            WaitTimeSeconds=self.wait_time_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        self.busy.set()  # before looking at `stop`, which `PollerGroup.stop` sets first
        try:
            if self.stop.is_set():
                # Received while stopping: left to come back after the visibility timeout.
                return 0
            return self._handle(messages)
        finally:
            self.busy.clear()

    def _handle(self, messages: list[dict[str, Any]]) -> int:
        trigger = self.config.trigger
        event = build_sqs_event(messages, self.config.queue_arn, self.config.region)
        ids = [m["MessageId"] for m in messages]
        try:
            response = self.invoke(trigger.function, event)
        except Exception:
            log.exception("%s failed a batch of %d; it will be retried", trigger.function, len(ids))
            return len(messages)
        keep = failed_ids(response, ids)
        done = [m for m in messages if m["MessageId"] not in keep]
        if done:
            self._delete(done)
        return len(messages)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        result = self.sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=entries)
        for failure in result.get("Failed", []):
            log.warning("could not delete a message: %s", failure)


class PollerGroup:
    """All the pollers of the wiring's queue triggers: `max_concurrency` threads per trigger."""

    def __init__(
        self,
        configs: list[PollerConfig],
        make_sqs: Callable[[], Any],
        invoke: Invoke,
        wait_time_s: int = WAIT_TIME_S,
    ) -> None:
        self.stop_event = threading.Event()
        self.pollers = [
            Poller(config, make_sqs(), invoke, self.stop_event, wait_time_s)
            for config in configs
            for _ in range(config.count)
        ]

    def start(self) -> None:
        for poller in self.pollers:
            poller.thread.start()

    def alive(self) -> dict[str, int]:
        """Return queue key → live poller threads."""
        counts: dict[str, int] = {}
        for poller in self.pollers:
            key = poller.config.trigger.queue
            counts[key] = counts.get(key, 0) + int(poller.thread.is_alive())
        return counts

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every poller; a handler still running is waited for up to `timeout_s` in all.

        A poller waiting in its long poll is not waited for: it ends when the poll returns
        (daemon thread), and hands nothing it received then to the handler.
        """
        self.stop_event.set()
        deadline = time.monotonic() + timeout_s
        for poller in self.pollers:
            if poller.thread.is_alive() and poller.busy.is_set():
                poller.thread.join(max(0.0, deadline - time.monotonic()))
