"""Plain dicts to and from DynamoDB's typed attribute values, and its error codes.

The stores use the low-level client (thread-safe, unlike boto3 resources); numbers come back as
int or float instead of Decimal.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from horizon.errors import ConflictError, DependencyError
from horizon.lazy import aws_client

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _to_dynamo(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(item) for item in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _from_dynamo(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(item) for item in value]
    return value


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """Turn a plain dict into a DynamoDB item (None values are left out)."""
    return {
        key: _serializer.serialize(_to_dynamo(value))
        for key, value in item.items()
        if value is not None
    }


def serialize_value(value: Any) -> dict[str, Any]:
    """Turn one plain value into a DynamoDB attribute value."""
    return _serializer.serialize(_to_dynamo(value))


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """Turn a DynamoDB item into a plain dict."""
    return {key: _from_dynamo(_deserializer.deserialize(value)) for key, value in item.items()}


def error_code(error: BaseException) -> str:
    """Return the AWS error code of a botocore error, or '' for anything else."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_conditional_failure(error: BaseException) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"


AWS_ERRORS = (ClientError, BotoCoreError)


BATCH_WRITE_MAX = 25  # BatchWriteItem's limit
MAX_ATTEMPTS = 8


def backoff_s(attempt: int) -> float:
    """Exponential backoff with full jitter (AWS's advice for retrying unprocessed items)."""
    return random.uniform(0, min(2.0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not security


def batch_write(
    client: Any,
    table: str,
    requests: Iterable[dict[str, Any]],
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send write requests with BatchWriteItem, 25 at a time, retrying `UnprocessedItems`.

    Args:
        client: a DynamoDB client.
        table: the table name.
        requests: `{"PutRequest": ...}` / `{"DeleteRequest": ...}` items.
        what: what is written, for the error message ("store log entries").
        sleep: how to wait between retries (tests pass a fake).

    Raises:
        DependencyError: DynamoDB failed, or items stayed unprocessed after every retry.
    """
    batch: list[dict[str, Any]] = []
    for request in requests:
        batch.append(request)
        if len(batch) == BATCH_WRITE_MAX:
            _write_batch(client, table, batch, what, sleep)
            batch = []
    if batch:
        _write_batch(client, table, batch, what, sleep)


def _write_batch(
    client: Any,
    table: str,
    pending: list[dict[str, Any]],
    what: str,
    sleep: Callable[[float], None],
) -> None:
    for attempt in range(MAX_ATTEMPTS):
        try:
            response = client.batch_write_item(RequestItems={table: pending})
        except AWS_ERRORS as error:
            raise DependencyError(f"could not {what}") from error
        pending = response.get("UnprocessedItems", {}).get(table, [])
        if not pending:
            return
        sleep(backoff_s(attempt))
    raise DependencyError(f"could not {what}: {len(pending)} items stayed unprocessed")


def batch_get(
    client: Any,
    table: str,
    request: dict[str, Any],
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]] | None:
    """BatchGetItem of one table's request (`{"Keys": [...], ...}`, at most 100 keys),
    retrying `UnprocessedKeys` with backoff.

    Returns:
        The items found (raw DynamoDB shapes), or None when keys stayed unprocessed.

    Raises:
        DependencyError: DynamoDB failed.
    """
    found: list[dict[str, Any]] = []
    pending: dict[str, Any] = {table: request}
    for attempt in range(MAX_ATTEMPTS):
        try:
            response = client.batch_get_item(RequestItems=pending)
        except AWS_ERRORS as error:
            raise DependencyError(f"could not {what}") from error
        found += response.get("Responses", {}).get(table, [])
        pending = response.get("UnprocessedKeys") or {}
        if not pending:
            return found
        sleep(backoff_s(attempt))
    return None


class Table:
    """The base of a table adapter: its name, a lazily made client, and one call wrapper that
    turns botocore errors into domain errors (a failed condition → ConflictError, anything
    else → DependencyError)."""

    client = aws_client("dynamodb")

    def __init__(self, table: str, client: Any = None) -> None:
        self._table = table
        self._client = client

    def _call(self, operation: str, what: str, **request: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, operation)(TableName=self._table, **request)
        except AWS_ERRORS as error:
            if is_conditional_failure(error):
                raise ConflictError(f"could not {what}: the item changed") from error
            raise DependencyError(f"could not {what}") from error
