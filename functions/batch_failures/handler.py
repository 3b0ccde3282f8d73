"""Task-queue DLQ consumer: each SQS record names a batch task the task queue gave up on.

Partial batch responses: a record whose task another worker still runs, or whose DynamoDB
calls failed, comes back after the DLQ's visibility timeout; everything else is acknowledged.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from horizon import observability
from horizon.batches import BatchTaskFailures
from horizon.sqs import partial_batch_handler

logger = observability.logger("batch_failures")
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_service() -> BatchTaskFailures:
    """The service, made on first use (not at import) so settings and clients are read late."""
    return BatchTaskFailures()


def record_handler(record: SQSRecord) -> None:
    outcome = get_service().handle(record.body)
    logger.info("task DLQ message handled", extra={"outcome": outcome.value})


handler = partial_batch_handler(logger, record_handler)
