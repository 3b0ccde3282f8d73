"""The notify function's service: send a new subscriber the job's state once it is connected.

`$connect` cannot push anything (API Gateway holds messages back until it returns), so it
queues a `snapshot` request; this service answers it from the notify queue.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ValidationError

from horizon.dynamo import AWS_ERRORS
from horizon.errors import DependencyError, HorizonError
from horizon.realtime import messages
from horizon.realtime.base import RealtimeService
from horizon.realtime.notifier import Delivery
from horizon.settings import get_settings

logger = logging.getLogger(__name__)

# How soon a message whose connection was not open yet comes back.
RETRY_VISIBILITY_S = 1


class RetryLaterError(HorizonError):
    """The connection is not open yet; the message should be delivered again shortly."""


class SnapshotRequest(BaseModel):
    type: str
    connection_id: str
    owner: str
    job_id: str


class SnapshotService(RealtimeService):
    """Answers snapshot requests from the notify queue.

    Args:
        connections, jobs, notifier, sqs: collaborators; each made lazily when omitted.
    """

    def handle(self, body: str, receipt_handle: str) -> Delivery | None:
        """Send the snapshot a message asks for.

        Args:
            body: the message body (JSON text).
            receipt_handle: the SQS receipt handle, to bring the message back quickly.

        Returns:
            How the delivery went, or None for a malformed or unknown message (dropped).

        Raises:
            RetryLaterError: the connection exists but is not open yet; the message's
                visibility was set to RETRY_VISIBILITY_S so it returns soon.
            DependencyError: a backing service failed (the message is retried normally).
        """
        try:
            request = SnapshotRequest.model_validate_json(body)
        except ValidationError:
            logger.warning("dropping malformed notify message")
            return None
        if request.type != "snapshot":
            logger.warning("dropping notify message of unknown type %r", request.type)
            return None
        message = self.job_state(request.owner, request.job_id) or messages.error(
            "not_found", f"job {request.job_id} not found"
        )
        delivery = self.notifier.send(request.connection_id, message)
        if delivery is Delivery.GONE and not self.connections.drop_gone(request.connection_id):
            self._retry_soon(receipt_handle)
            raise RetryLaterError(f"connection {request.connection_id} is not open yet")
        if delivery is Delivery.FAILED:
            raise DependencyError(f"could not post to connection {request.connection_id}")
        return delivery

    def _retry_soon(self, receipt_handle: str) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=get_settings().notify_queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=RETRY_VISIBILITY_S,
            )
        except AWS_ERRORS as error:
            # The message still comes back after the queue's visibility timeout.
            logger.warning("could not shorten the retry delay: %s", error)
