"""Fixes to the embedded moto, applied when the local stack starts it.

moto's `TransactWriteItems` backs up every table a transaction touches with a deep copy of the
whole table, once per item, before it starts: a transaction costs time in proportion to the
table, so the local stack slowed down as executions accumulated (a few hundred made each one
10–15 ms). This variant snapshots only the items the transaction touches and puts them back on
a cancellation — the same all-or-nothing outcome, in time proportional to the transaction.
Everything else (conditions, the cancellation reasons, the single-operation and uniqueness
checks) is moto's own code path: each operation still goes through `put_item`,
`update_item` and `delete_item` of the backend.

moto's DynamoDB is not safe for concurrent requests: `UpdateItem` applies its actions one by
one to the stored item, so a `GetItem` served by another thread at that moment could read an
execution already COMPLETED but without its output yet (seen locally: a torn read). DynamoDB
applies an item's update, and a transaction, all at once; here every DynamoDB request is
served under one lock, which gives the same.

The server also listed moto's package directory (a `stat` of some 200 entries) on every
request to recognise its backends' names; the listing cannot change while it runs, so it is
made once.

Three costs that DynamoDB does not have, found by profiling the local stack (a sampled
`POST /execute` spent about a third of its CPU in moto's DynamoDB code):

- Every `UpdateItem`, and every update in a transaction, parsed its update expression twice
  (the request's checks, then the backend) with moto's pure-Python parser. The parsed tree is
  only read, or deep-copied before it is changed (moto's validators copy it), so one parse per
  distinct expression is kept.
- A `Query` on a table's own key built its candidates from every item of the table, sorted
  (`Table.all_items`): O(table · log table) per page. It now sees its partition alone;
  moto's own code still sorts, filters and pages it.
- `GetItem`, `Query` and `BatchGetItem` results went through moto's generic, shape-driven
  serializer (about a hundred Python calls per item) although they are already the wire shape
  (`DynamoResult`): they are dumped as JSON directly (bytes as base64), with the same headers.
  Errors and every other action keep moto's path. A test checks that boto3 reads the same
  responses either way.

SES's sandbox, on request: a new AWS account's SES refuses every recipient that is not a verified
identity (`MessageRejected`), while moto sends to anyone. With `LOCAL_SES_SANDBOX=1` in the
environment the embedded SES refuses them the same way, so a stack can show one recipient of
a job failing while the others are sent (read at each send: tests set it per stack).

`apply()` patches moto's classes for the whole process and cannot be undone: once the local
stack (or a test) has started, every later `mock_aws` of that process runs with the fixes.
"""

from __future__ import annotations

import base64
import copy
import functools
import os
import threading
from typing import Any

import orjson
from moto import backends
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.ses.exceptions import MessageRejectedError
from moto.ses.models import SESBackend

_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}
_DIRECT_READS = frozenset(("GetItem", "Query", "BatchGetItem"))
_applied = False

# moto's own methods, kept for the fixes that fall back to them (and for tests).
moto_query = Table.query
moto_serialized = DynamoHandler.serialized
moto_send_email = SESBackend.send_email
SES_SANDBOX_ENV = "LOCAL_SES_SANDBOX"


def apply() -> None:
    """Install every fix above (idempotent)."""
    global _applied
    if not _applied:
        DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
        modules = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
        DynamoHandler.call_action = _one_at_a_time(DynamoHandler.call_action)  # type: ignore[method-assign]
        parse = functools.lru_cache(maxsize=512)(UpdateExpressionParser.make)
        UpdateExpressionParser.make = staticmethod(parse)  # type: ignore[method-assign,assignment]
        Table.query = _partition_query  # type: ignore[method-assign]
        DynamoHandler.serialized = _serialized  # type: ignore[method-assign]
        SESBackend.send_email = _sandboxed_send_email  # type: ignore[method-assign]
        _applied = True


def _sandboxed_send_email(
    self: SESBackend, source: str, subject: str, body: str, destinations: dict[str, list[str]]
) -> Any:
    """moto's SendEmail, refusing unverified recipients as SES's sandbox does when
    LOCAL_SES_SANDBOX is set."""
    if os.environ.get(SES_SANDBOX_ENV, "") not in ("", "0"):
        unverified = [
            address
            for addresses in destinations.values()
            for address in addresses
            if not self._is_verified_address(address)
        ]
        if unverified:
            raise MessageRejectedError(
                "Email address is not verified. The following identities failed the check "
                f"in region {self.region_name}: {', '.join(unverified)}"
            )
    return moto_send_email(self, source, subject, body, destinations)


def _partition_query(table: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    """moto's `Table.query`, shown only the queried partition when it reads the table's key."""
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is not None or not table.range_key_attr or hash_key is None:
        return moto_query(table, hash_key, *args, **kwargs)
    partition = list(table.items.get(hash_key, {}).values())  # moto sorts what it picks
    # The instance attribute shadows the method for this call only: DynamoDB requests are
    # served one at a time (moto's table export thread, unused here, would not wait).
    table.all_items = lambda: partition  # type: ignore[method-assign]
    try:
        return moto_query(table, hash_key, *args, **kwargs)
    finally:
        del table.all_items


def _serialized(handler: DynamoHandler, result: Any) -> Any:
    """A read's result as JSON at once; anything else through moto's serializer."""
    if type(result) is not DynamoResult or handler._get_action() not in _DIRECT_READS:
        return moto_serialized(handler, result)
    headers = {"Content-Type": "application/x-amz-json-1.0", **handler.response_headers}
    body = result.result
    if isinstance(body.get("ConsumedCapacity"), list):  # BatchGetItem counts its keys as ints
        capacities = [
            {**each, "CapacityUnits": float(each["CapacityUnits"])}
            for each in body["ConsumedCapacity"]
        ]
        body = {**body, "ConsumedCapacity": capacities}
    return 200, headers, orjson.dumps(body, default=_base64).decode()


def _base64(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON")


_dynamodb_lock = threading.Lock()


def _one_at_a_time(call_action: Any) -> Any:
    """Serve the wrapped DynamoDB requests one at a time."""

    @functools.wraps(call_action)
    def call_alone(self: DynamoHandler) -> Any:
        with _dynamodb_lock:
            return call_action(self)

    return call_alone


def _key_of(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    # (table, key) → the item's attributes before the transaction (None: it did not exist).
    snapshots: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    try:
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            original: dict[str, Any] | None = None
            try:
                if op_type not in _OPERATIONS:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                key = _key_of(self, op_type, op)
                marker = (str(table_name), str(dict(sorted(key.items()))))
                if marker in seen:
                    raise MultipleTransactionsException()
                seen.add(marker)
                current = self.get_item(table_name, key)
                before = copy.deepcopy(current.to_json()["Attributes"]) if current else None
                snapshots.append((table_name, key, before))
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                condition = op.get("ConditionExpression")
                if condition is not None:
                    holds = get_filter_expression(condition, names, values).expr(current)
                    if not holds:
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original)
                guarded = {
                    "condition_expression": condition,
                    "expression_attribute_names": names,
                    "expression_attribute_values": values,
                }
                if op_type == "Put":
                    self.put_item(table_name, op["Item"], **guarded)
                elif op_type == "Delete":
                    self.delete_item(table_name, key, **guarded)
                elif op_type == "Update":
                    self.update_item(
                        table_name, key, update_expression=op["UpdateExpression"], **guarded
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise
            except ConditionalCheckFailed as error:
                errors.append(("ConditionalCheckFailed", str(error.message), original))
            except Exception as error:  # as moto: any other failure cancels the transaction
                errors.append((type(error).__name__, str(error), original))
    except BaseException:
        _restore(self, snapshots)
        raise
    if any(code is not None for code, _, _ in errors):
        _restore(self, snapshots)
        raise TransactionCanceledException(errors)


def _restore(
    backend: DynamoDBBackend, snapshots: list[tuple[str, dict[str, Any], dict[str, Any] | None]]
) -> None:
    for table_name, key, attributes in reversed(snapshots):
        if attributes is None:
            if backend.get_item(table_name, key) is not None:
                backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, attributes)
