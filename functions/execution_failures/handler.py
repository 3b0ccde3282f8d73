"""Execute-DLQ consumer: each SQS record names an execution the execute queue gave up on.

Partial batch responses (the trigger sets ReportBatchItemFailures): a record whose execution a
worker still holds, or whose DynamoDB calls failed, comes back after the DLQ's visibility
timeout without holding up the others; everything else (ended now, already finished, unknown,
malformed) is acknowledged.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from horizon import observability
from horizon.executions.failures import ExecutionFailures
from horizon.sqs import partial_batch_handler

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
    outcome = get_service().handle(record.body)
    logger.info("execute DLQ message handled", extra={"outcome": outcome.value})


handler = partial_batch_handler(logger, record_handler)
