"""The keys table: one item per API key, `pk = key_id`.

A key is read by id (a strongly consistent GetItem) when an instance first sees it, at every
WebSocket `$connect`, and at the first request of its day; other REST requests rely on the
revocation having blocked the key's request counters (`IdentityService.revoke_key`). Keys spread over partitions by their random ids, so no partition
takes the whole platform's reads. Listing keys is an admin's rare call: a paged Scan.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from horizon.clock import now_iso
from horizon.dynamo import Table, deserialize, serialize, serialize_value
from horizon.errors import ConflictError, InvalidRequestError, NotFoundError
from horizon.settings import get_settings


class KeyStore(Table):
    """API key records: id, tenant, tier, role, name, salt, digest, created_at, revoked_at.

    Args:
        table: the table name; `KEYS_TABLE` from the settings when omitted.
        client: a DynamoDB client; the shared one when omitted.
    """

    def __init__(self, table: str | None = None, client: Any = None) -> None:
        super().__init__(table or get_settings().keys_table, client)

    def put(self, record: dict[str, Any]) -> None:
        """Store a new key record (its `key_id` must be new).

        Raises:
            ConflictError: a key with this id exists (ids are random: practically never).
        """
        self._call(
            "put_item",
            "store the API key",
            Item=serialize({"pk": record["key_id"], **record}),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, key_id: str) -> dict[str, Any] | None:
        """Return the record of `key_id` (revoked ones too), or None."""
        found = self._call(
            "get_item", "read the API key", Key={"pk": serialize_value(key_id)}, ConsistentRead=True
        ).get("Item")
        return _record(found) if found else None

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Return up to `limit` records and the cursor of the next page (None at the end).

        Raises:
            InvalidRequestError: the cursor is not one this store made.
        """
        request: dict[str, Any] = {"Limit": limit}
        if cursor:
            request["ExclusiveStartKey"] = {"pk": serialize_value(_decode_cursor(cursor))}
        response = self._call("scan", "list the API keys", **request)
        last = response.get("LastEvaluatedKey")
        next_cursor = _encode_cursor(deserialize(last)["pk"]) if last else None
        return [_record(item) for item in response.get("Items", [])], next_cursor

    def revoke(self, key_id: str) -> dict[str, Any]:
        """Mark `key_id` revoked (now, or when it first was) and return its record.

        Raises:
            NotFoundError: no such key.
        """
        try:
            response = self._call(
                "update_item",
                "revoke the API key",
                Key={"pk": serialize_value(key_id)},
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": serialize_value(now_iso())},
                ReturnValues="ALL_NEW",
            )
        except ConflictError as error:
            raise NotFoundError(f"API key {key_id} not found") from error
        return _record(response["Attributes"])


def _record(item: dict[str, Any]) -> dict[str, Any]:
    record = deserialize(item)
    record.pop("pk", None)
    return record


def _encode_cursor(key_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"key_id": key_id})).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))["key_id"]
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise InvalidRequestError("invalid cursor") from error
    if not isinstance(value, str):
        raise InvalidRequestError("invalid cursor")
    return value
