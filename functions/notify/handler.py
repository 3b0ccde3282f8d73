"""Notify queue consumer: each SQS record is a snapshot request for a new subscriber.

Partial batch responses: a record whose connection is not open yet comes back in about a
second (its visibility was shortened) without holding up the others.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from horizon import correlation
from horizon.realtime import SnapshotService


def record_handler(record: SQSRecord) -> None:
    # The subscribe request's id: the snapshot pushed for it carries that id.
    with correlation.bound(correlation.of_record(record.raw_event)):
        SnapshotService().handle(record.body, record.receipt_handle)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # A processor per invocation: it holds the batch's state, and the local stack may call
    # this handler from several poller threads at once. Failures are reported item by item
    # even when every record failed: raising would bring the whole batch back after the
    # queue's full visibility timeout instead of the 1 s retry.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
