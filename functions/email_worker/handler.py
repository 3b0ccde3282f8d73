"""Email queue consumer: each SQS record is a bounded slice of an email job's recipients.

Partial batch responses (the trigger sets ReportBatchItemFailures): a record whose recipients
another delivery still holds, or whose DynamoDB calls failed, comes back after its visibility
timeout without holding up the others; per-recipient SES failures are counted on the job and
the record is acknowledged.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from horizon import observability
from horizon.email_jobs.worker import EmailWorker
from horizon.realtime import EmailJobProgressPublisher
from horizon.sqs import partial_batch_handler

# Named here because the local stack runs every function in one process (one environment).
logger = observability.logger("email_worker")
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_worker() -> EmailWorker:
    """The worker, made on first use (not at import) so settings and clients are read late."""
    return EmailWorker(publisher=EmailJobProgressPublisher())


def record_handler(record: SQSRecord) -> None:
    """Send the recipients one record carries; raising marks the record for a retry."""
    outcome = get_worker().handle(record.body)
    logger.info("email message handled", extra={"outcome": outcome.value})


handler = partial_batch_handler(logger, record_handler)
