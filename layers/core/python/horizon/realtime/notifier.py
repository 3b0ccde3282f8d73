"""Posting messages to WebSocket connections through API Gateway's `@connections` API."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import orjson

from horizon import aws, correlation
from horizon.dynamo import AWS_ERRORS, error_code
from horizon.errors import InvalidRequestError
from horizon.settings import get_settings

logger = logging.getLogger(__name__)

# API Gateway WebSocket frames are at most 32 KB; keep every message within one frame.
MAX_FRAME_BYTES = 32 * 1024


class Delivery(StrEnum):
    SENT = "sent"
    GONE = "gone"  # 410: the connection no longer exists (or is not open yet)
    FAILED = "failed"  # anything else; the message was not delivered


class MessageTooLargeError(InvalidRequestError):
    """The message does not fit in one WebSocket frame."""


def encode(message: dict[str, Any]) -> bytes:
    """Serialize a message as it is pushed, refusing anything above one frame.

    The message carries the correlation id bound now, unless it has its own
    (`horizon.correlation.stamped`): a client can quote it, and it joins the push to the log
    lines of the work that sent it.

    Raises:
        MessageTooLargeError: the encoded message exceeds MAX_FRAME_BYTES.
    """
    data = orjson.dumps(correlation.stamped(message))
    if len(data) > MAX_FRAME_BYTES:
        raise MessageTooLargeError(f"message of {len(data)} bytes exceeds one frame")
    return data


class Notifier:
    """Sends messages to connections.

    Args:
        client: an `apigatewaymanagementapi` client; defaults to the shared one made by
            `horizon.aws` for `settings.websocket_callback_url`.
    """

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client(
                "apigatewaymanagementapi", endpoint_url=get_settings().websocket_callback_url
            )
        return self._client

    def send(self, connection_id: str, message: dict[str, Any]) -> Delivery:
        """Post one message to one connection; never raises for a delivery problem.

        Raises:
            MessageTooLargeError: the message does not fit in one frame (a programming error).
        """
        data = encode(message)
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except AWS_ERRORS as error:
            if error_code(error) == "GoneException":
                return Delivery.GONE
            logger.warning(
                "could not post to connection %s: %s", connection_id, error_code(error) or error
            )
            return Delivery.FAILED
        return Delivery.SENT
