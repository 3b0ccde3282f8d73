"""Task-queue DLQ consumer: each SQS record names a batch task the task queue gave up on.

Partial batch responses: a record whose task another worker still runs, or whose DynamoDB
calls failed, comes back after the DLQ's visibility timeout; everything else is acknowledged.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from horizon import correlation, metrics, observability
from horizon.batches import BatchTaskFailures

logger = observability.logger("batch_failures")
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_service() -> BatchTaskFailures:
    """The service, made on first use (not at import) so settings and clients are read late."""
    return BatchTaskFailures()


def record_handler(record: SQSRecord) -> None:
    with correlation.bound(correlation.of_record(record.raw_event)):
        outcome = get_service().handle(record.body)
        logger.info("task DLQ message handled", extra={"outcome": outcome.value})


@metrics.flushing  # what the services counted, printed as EMF before Lambda freezes
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
