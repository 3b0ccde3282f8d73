"""The entries table adapter: valid entries and invalid-line reports of each job.

Key design (see DESIGN.md): partition key `{owner}#{job_id}#{kind}#{block}` where `kind` is
`E` (entry) or `X` (invalid line) and `block` is `line // BLOCK_LINES`; sort key `line`.
Writing line N always writes the same key, so a retried or redelivered ingest overwrites
instead of duplicating. Blocks keep each partition key under ~1000 writes, far from DynamoDB's
per-key throughput limit, while reads in line order stay one Query per block.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import orjson

from horizon.dynamo import AWS_ERRORS, batch_write, deserialize, serialize
from horizon.errors import DependencyError, InvalidRequestError
from horizon.lazy import aws_client
from horizon.settings import get_settings

BLOCK_LINES = 1000

Kind = Literal["E", "X"]


NumberedEntry = tuple[int, dict[str, Any]]
"""A valid line's number and entry, as the ingest buffers them: a plain pair, the cheapest
record to build once per line (a NamedTuple's constructor costs several times more)."""


class StoredEntry(NamedTuple):
    """A valid line's entry and its line number, as read back."""

    line: int
    entry: dict[str, Any]


@dataclass(frozen=True)
class InvalidLine:
    line: int
    reason: str
    raw: str


def _pk(owner: str, job_id: str, kind: Kind, block: int) -> str:
    return f"{owner}#{job_id}#{kind}#{block}"


class EntryStore:
    """Writes and pages through a job's entries and invalid lines.

    Args:
        table: the table name; defaults to `ENTRIES_TABLE` from the settings.
        client: a DynamoDB client; defaults to the shared one from `horizon.aws`.
        sleep: how to wait between retries of unprocessed items (tests pass a fake).
    """

    client = aws_client("dynamodb")

    def __init__(
        self,
        table: str | None = None,
        client: Any = None,
        sleep: Any = time.sleep,
    ) -> None:
        self._table = table or get_settings().entries_table
        self._client = client
        self._sleep = sleep

    # -- writing -----------------------------------------------------------------------------

    def put_entries(self, owner: str, job_id: str, entries: Sequence[NumberedEntry]) -> None:
        """Store valid entries (`(line, entry)` pairs, a `StoredEntry` too); idempotent per
        (job, line)."""
        self._put_all(
            {"pk": _pk(owner, job_id, "E", line // BLOCK_LINES), "line": line, "entry": entry}
            for line, entry in entries
        )

    def put_invalid(self, owner: str, job_id: str, lines: Sequence[InvalidLine]) -> None:
        """Store invalid-line reports; idempotent per (job, line)."""
        self._put_all(
            {
                "pk": _pk(owner, job_id, "X", line.line // BLOCK_LINES),
                "line": line.line,
                "reason": line.reason,
                "raw": line.raw,
            }
            for line in lines
        )

    def _put_all(self, items: Iterable[dict[str, Any]]) -> None:
        requests = ({"PutRequest": {"Item": serialize(item)}} for item in items)
        batch_write(self.client, self._table, requests, "store log entries", self._sleep)

    # -- reading -----------------------------------------------------------------------------

    def page_entries(
        self, owner: str, job_id: str, last_line: int, after: int = 0, limit: int = 100
    ) -> tuple[list[StoredEntry], int | None]:
        """Return up to `limit` entries with line > `after`, in line order, and the `after` of
        the next page (None when done). `last_line` is the job's line count, where to stop."""
        items, next_after = self._page(owner, job_id, "E", last_line, after, limit)
        return [StoredEntry(line=item["line"], entry=item["entry"]) for item in items], next_after

    def page_invalid(
        self, owner: str, job_id: str, last_line: int, after: int = 0, limit: int = 100
    ) -> tuple[list[InvalidLine], int | None]:
        """Like `page_entries`, for invalid-line reports."""
        items, next_after = self._page(owner, job_id, "X", last_line, after, limit)
        lines = [InvalidLine(line=i["line"], reason=i["reason"], raw=i["raw"]) for i in items]
        return lines, next_after

    def _page(
        self, owner: str, job_id: str, kind: Kind, last_line: int, after: int, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        found: list[dict[str, Any]] = []
        block = after // BLOCK_LINES
        while len(found) < limit and block * BLOCK_LINES <= last_line:
            for item in self._query_block(owner, job_id, kind, block, after, limit - len(found)):
                found.append(item)
                after = item["line"]
            if len(found) < limit:
                block += 1
        more = len(found) == limit and after < last_line
        return found, (after if more else None)

    def _query_block(
        self, owner: str, job_id: str, kind: Kind, block: int, after: int, limit: int
    ) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND line > :after",
            "ExpressionAttributeValues": serialize(
                {":pk": _pk(owner, job_id, kind, block), ":after": after}
            ),
            "Limit": limit,
        }
        while True:
            try:
                response = self.client.query(**request)
            except AWS_ERRORS as error:
                raise DependencyError("could not read log entries") from error
            items = response.get("Items", [])
            yield from (deserialize(item) for item in items)
            limit -= len(items)
            if limit <= 0 or "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            request["Limit"] = limit


def encode_cursor(after: int | None) -> str | None:
    """Turn a page position into an opaque cursor for the API."""
    if after is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps({"after": after})).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """Turn an API cursor back into a page position. Raises InvalidRequestError."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = orjson.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidRequestError("invalid cursor") from error
    if not isinstance(after, int) or after < 0:
        raise InvalidRequestError("invalid cursor")
    return after
