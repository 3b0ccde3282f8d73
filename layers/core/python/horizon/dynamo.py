"""Plain dicts to and from DynamoDB's typed attribute values, and its error codes.

The stores use the low-level client (thread-safe, unlike boto3 resources); numbers come back as
int or float instead of Decimal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

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
