"""Email-queue DLQ consumer: each SQS record is a slice of an email job the queue gave up on.

Its recipients that no delivery recorded are recorded failed and never sent, so the job ends
instead of waiting for ever. Partial batch responses: a record whose recipients a delivery
still holds, or whose DynamoDB calls failed, comes back after the DLQ's visibility timeout.
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
from horizon.email_jobs.worker import EmailWorker, dead_letter_reason
from horizon.realtime import EmailJobProgressPublisher

logger = observability.logger("email_failures")
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_worker() -> EmailWorker:
    """The worker, made on first use (not at import) so settings and clients are read late."""
    return EmailWorker(publisher=EmailJobProgressPublisher())


def record_handler(record: SQSRecord) -> None:
    with correlation.bound(correlation.of_record(record.raw_event)):
        outcome = get_worker().give_up(record.body, dead_letter_reason())
        logger.info("email DLQ message handled", extra={"outcome": outcome.value})


@metrics.flushing  # what the services counted, printed as EMF before Lambda freezes
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
