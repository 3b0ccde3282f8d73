"""Sending many messages to one SQS queue: SendMessageBatch ten at a time, failures retried;
and the handler of an SQS trigger with partial batch responses (`partial_batch_handler`).

Every message carries the bound correlation id (`horizon.correlation`). SQS reports entries it
refused in `Failed` (those were not sent); a call that fails outright after botocore's own
retries is tried again too, though SQS may have taken its messages: every consumer of these
queues acts conditionally, so a duplicate is harmless. The caller decides what the messages
still unsent after every try mean for its work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from horizon import correlation, metrics
from horizon.dynamo import AWS_ERRORS, MAX_ATTEMPTS, backoff_s

logger = logging.getLogger(__name__)

SEND_BATCH_MAX = 10  # SendMessageBatch's limit


def send_messages(
    client: Any,
    queue_url: str,
    bodies: Sequence[str],
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[int]:
    """Send each of `bodies` to the queue.

    Returns:
        The indexes (into `bodies`) of the messages still unsent after `attempts` tries, in
        order; empty when every message went.
    """
    attributes = correlation.message_attributes()
    unsent: list[int] = []
    for first in range(0, len(bodies), SEND_BATCH_MAX):
        pending = {
            str(i): bodies[i] for i in range(first, min(first + SEND_BATCH_MAX, len(bodies)))
        }
        for attempt in range(attempts):
            if attempt:
                sleep(backoff_s(attempt))
            entries = [
                {"Id": key, "MessageBody": body, "MessageAttributes": attributes}
                for key, body in pending.items()
            ]
            try:
                response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except AWS_ERRORS as error:
                logger.warning("SendMessageBatch failed (try %d): %s", attempt + 1, error)
                continue
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            pending = {key: body for key, body in pending.items() if key in failed}
            if not pending:
                break
        unsent += [int(key) for key in pending]
    return unsent


def partial_batch_handler(
    logger: Logger, record_handler: Callable[[SQSRecord], None]
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of an SQS trigger with ReportBatchItemFailures.

    Each record is handled under the correlation id it carries; a record whose handling
    raises is reported for a retry without holding up the others. One processor per
    invocation (the local stack may run invocations in parallel threads); a batch whose every
    record failed still answers with batchItemFailures rather than an invocation error, which
    would bring back the records that succeeded too. What the invocation counted is flushed
    as EMF before Lambda freezes.
    """

    def handle_record(record: SQSRecord) -> None:
        with correlation.bound(correlation.of_record(record.raw_event)):
            record_handler(record)

    @metrics.flushing
    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )

    return handler
