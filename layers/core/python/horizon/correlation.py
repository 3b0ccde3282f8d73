"""The correlation id of the work at hand, from the request that started it to every queue
message, worker log line and task it leads to.

The API binds each request's id (`X-Request-Id`, see `horizon.api.request_log`); every SQS
message sent meanwhile carries it as the message attribute `correlation_id`
(`message_attributes`); a worker binds the id of the record it handles (`of_record`), so the
messages it sends in turn carry it on; `horizon.observability` writes it into every log line;
every WebSocket push carries it as the key `correlation_id` (`stamped`, called by
`horizon.realtime.notifier.encode`). A context variable holds it: each thread, and each
request's context, has its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

ATTRIBUTE = "correlation_id"
ENVIRONMENT = "CORRELATION_ID"  # how a Fargate task is told its launcher's id
# The longest id a push carries: a caller's X-Request-Id may be this long (the others bound,
# API Gateway's request ids and UUIDs, are shorter).
MAX_CHARS = 128
# What `stamped` may add to a message's JSON: frames are sized with room for it. The ids are
# plain tokens, so JSON escapes nothing in them.
STAMP_BYTES = len(f',"{ATTRIBUTE}":""') + MAX_CHARS

_current: ContextVar[str | None] = ContextVar(ATTRIBUTE, default=None)


def current() -> str | None:
    """The id bound now, if any."""
    return _current.get()


@contextmanager
def bound(correlation_id: str | None) -> Iterator[None]:
    """Bind `correlation_id` for the block (None: the block has none)."""
    token = _current.set(correlation_id)
    try:
        yield
    finally:
        _current.reset(token)


def message_attributes() -> dict[str, dict[str, str]]:
    """The `MessageAttributes` of an SQS message sent now: the bound id, or none."""
    correlation_id = current()
    if not correlation_id:
        return {}
    return {ATTRIBUTE: {"DataType": "String", "StringValue": correlation_id}}


def stamped(message: dict[str, Any]) -> dict[str, Any]:
    """`message` as pushed now: with the bound id as `correlation_id`, unless it has its own.

    An id longer than `MAX_CHARS` is left off: a frame has room for that much and no more.
    """
    correlation_id = current()
    if not correlation_id or len(correlation_id) > MAX_CHARS or ATTRIBUTE in message:
        return message
    return {**message, ATTRIBUTE: correlation_id}


def of_record(record: Mapping[str, Any]) -> str | None:
    """The id an SQS record of a Lambda event carries, if any."""
    attribute = (record.get("messageAttributes") or {}).get(ATTRIBUTE) or {}
    value = attribute.get("stringValue")
    return str(value) if value else None
