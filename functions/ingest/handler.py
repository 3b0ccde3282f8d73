"""Ingest queue consumer: each SQS record carries an S3 notification or a continuation.

Partial batch responses (the trigger sets ReportBatchItemFailures): a record whose job is busy
or whose AWS calls failed comes back after its visibility timeout without holding up the
others; everything else (done, skipped, failed for good) is acknowledged.
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
from horizon.ingest import IngestService, MalformedMessageError, parse_body
from horizon.realtime import JobProgressPublisher

# Named here because the local stack runs every function in one process (one environment);
# in Lambda POWERTOOLS_SERVICE_NAME says the same.
logger = observability.logger("ingest")
# horizon's modules log through the standard library: give them the same JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_service() -> IngestService:
    """The service, made on first use (not at import) so settings and clients are read late."""
    return IngestService(publisher=JobProgressPublisher())


def record_handler(record: SQSRecord, lambda_context: Any) -> None:
    """Ingest the job(s) one record names; raising marks the record for a retry."""
    try:
        requests = parse_body(record.body)
    except MalformedMessageError as error:
        # A poison message must not loop: acknowledge it, loudly.
        logger.error("dropping malformed ingest message", extra={"reason": str(error)})
        return
    receive_count = int(record.attributes.approximate_receive_count or 1)
    for request in requests:
        # An upload's S3 event carries no id: the job's id stands for it, and its continuation
        # messages carry it on.
        with correlation.bound(correlation.of_record(record.raw_event) or request.job_id):
            outcome = get_service().process(
                request, lambda_context.get_remaining_time_in_millis, receive_count
            )
            logger.info(
                "ingest run ended", extra={"outcome": outcome.value, "owner": request.owner}
            )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # One processor per invocation: the local stack may run invocations in parallel threads.
    # A batch whose every record failed still answers with batchItemFailures (batch size is 1),
    # rather than an invocation error that would hide which records to retry.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
