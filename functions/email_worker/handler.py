"""Email queue consumer: each SQS record is a bounded slice of an email job's recipients.

Partial batch responses (the trigger sets ReportBatchItemFailures): a record whose recipients
another delivery still holds, or whose DynamoDB calls failed, comes back after its visibility
timeout without holding up the others; per-recipient SES failures are counted on the job and
the record is acknowledged.
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
from horizon.email_jobs.worker import EmailWorker
from horizon.realtime import EmailJobProgressPublisher

# Named here because the local stack runs every function in one process (one environment).
logger = observability.logger("email_worker")
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_worker() -> EmailWorker:
    """The worker, made on first use (not at import) so settings and clients are read late."""
    return EmailWorker(publisher=EmailJobProgressPublisher())


def record_handler(record: SQSRecord) -> None:
    """Send the recipients one record carries; raising marks the record for a retry."""
    with correlation.bound(correlation.of_record(record.raw_event)):
        outcome = get_worker().handle(record.body)
        logger.info("email message handled", extra={"outcome": outcome.value})


@metrics.flushing  # what the services counted, printed as EMF before Lambda freezes
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # One processor per invocation: the local stack may run invocations in parallel threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
