"""Email-queue DLQ consumer: each SQS record is a slice of an email job the queue gave up on.

Its recipients that no delivery recorded are recorded failed and never sent, so the job ends
instead of waiting for ever. Partial batch responses: a record whose recipients a delivery
still holds, or whose DynamoDB calls failed, comes back after the DLQ's visibility timeout.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from horizon import observability
from horizon.email_jobs.worker import EmailWorker, dead_letter_reason
from horizon.realtime import EmailJobProgressPublisher
from horizon.sqs import partial_batch_handler

logger = observability.logger("email_failures")
copy_config_to_registered_loggers(source_logger=logger, include={"horizon"})


@cache
def get_worker() -> EmailWorker:
    """The worker, made on first use (not at import) so settings and clients are read late."""
    return EmailWorker(publisher=EmailJobProgressPublisher())


def record_handler(record: SQSRecord) -> None:
    outcome = get_worker().give_up(record.body, dead_letter_reason())
    logger.info("email DLQ message handled", extra={"outcome": outcome.value})


handler = partial_batch_handler(logger, record_handler)
