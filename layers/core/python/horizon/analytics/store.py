"""Aggregate items in the entries table, and reading a job's committed chain of them.

Keys: partition `{owner}#{job_id}#A{part}` (part R, E, C or A), sort key `line` = the segment's
start line (the checkpoint it started from). A retried or resumed segment starts from the same
checkpoint and so overwrites the earlier attempt's item: nothing is ever added to blindly.

An item is a pure function of the line range it names, (line, end_line]. A reader starts at
line 0 and follows `end_line` from item to item until it reaches the job's committed line
count; the items on that chain cover every committed line exactly once, so merging them is
exact. Anything else — a missing item, a gap, a chain overshooting the committed count (a
segment written just before its checkpoint), an item too large to store, or valid counts that
do not add up to the job's — means "not available", and the planner reads the entries.

Finding the chain: each ingest run keeps a manifest item (`{owner}#{job_id}#AM`, sort key =
the run's first segment start) listing the starts of the segments it wrote and where the last
one ends; the ingest only ever writes (its Lambda may write the entries table, not read it).
A reader follows manifests from line 0 (the end of one run is the start of the next, e.g. a
continuation), fetches exactly the listed items (BatchGetItem) and verifies the chain as
above. Manifests are only hints — a crashed or stale run may leave a wrong one — so when the
hinted chain does not verify, the reader Queries every manifest, then the part's partition.
Exactness never depends on manifests; only speed does (a Query per part reads every segment;
the local moto plane even scans the whole table per Query).
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import orjson

from horizon import aws
from horizon.analytics.aggregator import PARTS, UNCOMPRESSED_PARTS, Segment
from horizon.dynamo import AWS_ERRORS, MAX_ATTEMPTS, backoff_s, batch_write
from horizon.errors import DependencyError
from horizon.settings import get_settings

MAX_BLOB_BYTES = 350_000  # DynamoDB items are at most 400 KB; leave room for the keys
MANIFEST = "M"
BATCH_GET_MAX = 100


def _pk(owner: str, job_id: str, part: str) -> str:
    return f"{owner}#{job_id}#A{part}"


class AggregateStore:
    """Writes segments and reads the committed aggregates of a job.

    Args:
        table: the table name; defaults to `ENTRIES_TABLE` from the settings.
        client: a DynamoDB client; defaults to the shared one from `horizon.aws`.
        sleep: how to wait between retries of unprocessed items.
    """

    def __init__(
        self, table: str | None = None, client: Any = None, sleep: Any = time.sleep
    ) -> None:
        self._table = table or get_settings().entries_table
        self._client = client
        self._sleep = sleep
        # (owner, job_id) → the current run's segment starts and last end, in this process.
        self._runs: dict[tuple[str, str], list[int]] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    def put_segment(self, owner: str, job_id: str, segment: Segment) -> None:
        """Store (overwrite) a segment's items, one per part, in one BatchWriteItem.

        Also writes the run's manifest: a segment that starts where this store's last segment
        of the job ended continues that run; any other starts a new run (a retry, a
        continuation in another process).

        Raises:
            DependencyError: DynamoDB failed.
        """
        run = self._runs.get((owner, job_id))
        if not run or run[-1] != segment.start_line:
            run = [segment.start_line]
        else:
            run = [*run[:-1], segment.start_line]
        run.append(segment.end_line)  # the starts, then the last end
        if len(self._runs) > 64:  # one job at a time per ingest; keep memory bounded
            self._runs.clear()
        self._runs[(owner, job_id)] = run
        manifest = {
            "pk": {"S": _pk(owner, job_id, MANIFEST)},
            "line": {"N": str(run[0])},
            "bounds": {"S": orjson.dumps(run).decode()},
        }
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": manifest}}]
        for part in PARTS:
            item: dict[str, Any] = {
                "pk": {"S": _pk(owner, job_id, part)},
                "line": {"N": str(segment.start_line)},
                "end_line": {"N": str(segment.end_line)},
                "start_offset": {"N": str(segment.start_offset)},
                "end_offset": {"N": str(segment.end_offset)},
                "valid": {"N": str(segment.valid)},
            }
            blob = orjson.dumps(segment.parts[part])
            if part not in UNCOMPRESSED_PARTS:
                blob = zlib.compress(blob, 1)
            if len(blob) > MAX_BLOB_BYTES:
                item["overflow"] = {"BOOL": True}  # readers fall back to the entries
            else:
                item["blob"] = {"B": blob}
            requests.append({"PutRequest": {"Item": item}})
        batch_write(self.client, self._table, requests, "store log aggregates", self._sleep)

    def load(
        self, owner: str, job_id: str, part: str, last_line: int, valid: int
    ) -> list[Any] | None:
        """Return the payloads of a part along the job's committed chain, or None.

        Args:
            owner, job_id: the job.
            part: R, E, C or A.
            last_line, valid: the job's committed counts (lines read, valid entries).

        Returns:
            The payloads in line order, or None when the chain does not reach exactly
            `last_line` with `valid` entries (the caller then reads the entries).

        Raises:
            DependencyError: DynamoDB failed.
        """
        if last_line == 0:
            return []
        hints = self._hints(owner, job_id, last_line)
        found = _chain(self._get_items(owner, job_id, part, hints), last_line, valid)
        if found is None:
            starts = [s for m in self._query(_pk(owner, job_id, MANIFEST)) for s in _bounds(m)]
            found = _chain(self._get_items(owner, job_id, part, starts), last_line, valid)
        if found is None:
            queried = self._query(_pk(owner, job_id, part))
            found = _chain({int(i["line"]["N"]): i for i in queried}, last_line, valid)
        if found is None:
            return None
        if part in UNCOMPRESSED_PARTS:
            return [orjson.loads(blob) for blob in found]
        return [orjson.loads(zlib.decompress(blob)) for blob in found]

    def _hints(self, owner: str, job_id: str, last_line: int) -> list[int]:
        """Segment starts from the manifests of consecutive runs, from line 0 on."""
        starts: list[int] = []
        position, seen = 0, set()
        while position < last_line and position not in seen:
            seen.add(position)
            key = {"pk": {"S": _pk(owner, job_id, MANIFEST)}, "line": {"N": str(position)}}
            try:
                response = self.client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
            except AWS_ERRORS as error:
                raise DependencyError("could not read log aggregates") from error
            bounds = _bounds(response.get("Item"))
            if len(bounds) < 2:
                break
            starts.extend(bounds[:-1])
            position = bounds[-1]
        return starts

    def _get_items(
        self, owner: str, job_id: str, part: str, starts: list[int]
    ) -> dict[int, dict[str, Any]]:
        pk = _pk(owner, job_id, part)
        found: dict[int, dict[str, Any]] = {}
        unique = sorted(set(starts))
        for index in range(0, len(unique), BATCH_GET_MAX):
            keys = [{"pk": {"S": pk}, "line": {"N": str(s)}} for s in unique[index : index + 100]]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": keys,
                    "ConsistentRead": True,
                    "ProjectionExpression": "line, end_line, #valid, #blob",
                    "ExpressionAttributeNames": {"#valid": "valid", "#blob": "blob"},
                }
            }
            for attempt in range(MAX_ATTEMPTS):
                try:
                    response = self.client.batch_get_item(RequestItems=request)
                except AWS_ERRORS as error:
                    raise DependencyError("could not read log aggregates") from error
                for item in response.get("Responses", {}).get(self._table, []):
                    found[int(item["line"]["N"])] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(backoff_s(attempt))
        return found

    def _query(self, pk: str) -> list[dict[str, Any]]:

        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        }
        found: list[dict[str, Any]] = []
        while True:
            try:
                response = self.client.query(**request)
            except AWS_ERRORS as error:
                raise DependencyError("could not read log aggregates") from error
            found.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _chain(items: dict[int, dict[str, Any]], last_line: int, valid: int) -> list[bytes] | None:
    """Follow the items from line 0 to `last_line`; their blobs, or None if the chain fails."""
    blobs: list[bytes] = []
    position = total = 0
    while position < last_line:
        item = items.get(position)
        if item is None or "blob" not in item:
            return None
        end = int(item["end_line"]["N"])
        if end <= position:
            return None  # an empty segment cannot move the chain on
        blobs.append(item["blob"]["B"])
        total += int(item["valid"]["N"])
        position = end
    if position != last_line or total != valid:
        return None
    return blobs


def _bounds(item: dict[str, Any] | None) -> list[int]:
    """A manifest's segment starts followed by its last end ([] when absent or unreadable)."""
    if not item or "bounds" not in item:
        return []
    bounds = orjson.loads(item["bounds"]["S"])
    return [b for b in bounds if isinstance(b, int)] if isinstance(bounds, list) else []
