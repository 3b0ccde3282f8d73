"""Fan-out queue consumer: each SQS record names a batch whose tasks are to be created and queued.

Partial batch responses (the trigger sets ReportBatchItemFailures): a record whose fan-out
failed midway comes back and resumes from the batch's cursors.
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

from horizon import correlation, observability
from horizon.batches import FanOut

logger = observability.logger("batch_fanout")
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_service() -> FanOut:
    """The service, made on first use (not at import) so settings and clients are read late."""
    return FanOut()


def record_handler(record: SQSRecord) -> None:
    with correlation.bound(correlation.of_record(record.raw_event)):
        outcome = get_service().handle(record.body)
        logger.info("fan-out message handled", extra={"outcome": outcome.value})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # One processor per invocation: the local stack may run invocations in parallel threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
