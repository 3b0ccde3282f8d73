"""Execute-DLQ consumer: each SQS record names an execution the execute queue gave up on.

Partial batch responses (the trigger sets ReportBatchItemFailures): a record whose execution a
worker still holds, or whose DynamoDB calls failed, comes back after the DLQ's visibility
timeout without holding up the others; everything else (ended now, already finished, unknown,
malformed) is acknowledged.
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
from horizon.executions.failures import ExecutionFailures

# Named here because the local stack runs every function in one process (one environment);
# in Lambda POWERTOOLS_SERVICE_NAME says the same.
logger = observability.logger("execution_failures")
# horizon's modules log through the standard library: give them the same JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_service() -> ExecutionFailures:
    """The service, made on first use (not at import) so settings and clients are read late."""
    return ExecutionFailures()


def record_handler(record: SQSRecord) -> None:
    """Settle the execution one record names; raising marks the record for a retry."""
    with correlation.bound(correlation.of_record(record.raw_event)):
        outcome = get_service().handle(record.body)
        logger.info("execute DLQ message handled", extra={"outcome": outcome.value})


@metrics.flushing  # what the services counted, printed as EMF before Lambda freezes
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # One processor per invocation: the local stack may run invocations in parallel threads.
    # A batch whose every record failed still answers with batchItemFailures rather than an
    # invocation error, which would bring back the records that succeeded too.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
