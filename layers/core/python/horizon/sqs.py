"""Sending many messages to one SQS queue: SendMessageBatch ten at a time, failures retried.

Every message carries the bound correlation id (`horizon.correlation`). SQS reports entries it
refused in `Failed` (those were not sent); a call that fails outright after botocore's own
retries is tried again too, though SQS may have taken its messages: every consumer of these
queues acts conditionally, so a duplicate is harmless. The caller decides what the messages
still unsent after every try mean for its work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from horizon import correlation
from horizon.dynamo import AWS_ERRORS, MAX_ATTEMPTS, backoff_s

logger = logging.getLogger(__name__)

SEND_BATCH_MAX = 10  # SendMessageBatch's limit


def send_messages(
    client: Any,
    queue_url: str,
    bodies: Sequence[str],
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[int]:
    """Send each of `bodies` to the queue.

    Returns:
        The indexes (into `bodies`) of the messages still unsent after `attempts` tries, in
        order; empty when every message went.
    """
    attributes = correlation.message_attributes()
    unsent: list[int] = []
    for first in range(0, len(bodies), SEND_BATCH_MAX):
        pending = {
            str(i): bodies[i] for i in range(first, min(first + SEND_BATCH_MAX, len(bodies)))
        }
        for attempt in range(attempts):
            if attempt:
                sleep(backoff_s(attempt))
            entries = [
                {"Id": key, "MessageBody": body, "MessageAttributes": attributes}
                for key, body in pending.items()
            ]
            try:
                response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except AWS_ERRORS as error:
                logger.warning("SendMessageBatch failed (try %d): %s", attempt + 1, error)
                continue
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            pending = {key: body for key, body in pending.items() if key in failed}
            if not pending:
                break
        unsent += [int(key) for key in pending]
    return unsent
