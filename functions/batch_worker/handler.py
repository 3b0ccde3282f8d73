"""Task queue consumer: each SQS record names one batch task to run.

Partial batch responses (the trigger sets ReportBatchItemFailures): the records are handled
one after the other within the invocation's time; a record that failed, or that found too
little time left to start, comes back (with backoff, or at once) without the others.
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
from aws_lambda_powertools.utilities.typing import LambdaContext

from horizon import correlation, metrics, observability
from horizon.batches import BatchWorker, TaskDelivery

logger = observability.logger("batch_worker")
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_service() -> BatchWorker:
    """The service, made on first use (not at import) so settings and clients are read late."""
    return BatchWorker()


def delivery_of(record: SQSRecord, context: LambdaContext) -> TaskDelivery:
    """The parts of one SQS record (and of the invocation's clock) the worker needs."""
    return TaskDelivery(
        body=record.body,
        message_id=record.message_id,
        receipt_handle=record.receipt_handle,
        receive_count=int(record.attributes.approximate_receive_count or 1),
        remaining_s=context.get_remaining_time_in_millis() / 1000,
    )


@metrics.flushing  # what the services counted, printed as EMF before Lambda freezes
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # One processor per invocation: the local stack may run invocations in parallel threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    records = [SQSRecord(raw) for raw in event.get("Records", [])]
    with get_service().invocation([delivery_of(r, context) for r in records]) as invocation:

        def record_handler(record: SQSRecord) -> None:
            with correlation.bound(correlation.of_record(record.raw_event)):
                outcome = invocation.handle(delivery_of(record, context))
                logger.info("task message handled", extra={"outcome": outcome.value})

        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
