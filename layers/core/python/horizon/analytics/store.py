"""Aggregate items in the entries table, and reading a job's committed chain of them.

Keys: partition `{owner}#{job_id}#A{part}` (part R, E, C or A), sort key `line` = the segment's
start line (the checkpoint it started from). A retried or resumed segment starts from the same
checkpoint and so overwrites the earlier attempt's item: nothing is ever added to blindly.

An item is a pure function of the line range it names, (line, end_line]. A reader starts at
line 0 and follows `end_line` from item to item until it reaches the job's committed line
count; the items on that chain cover every committed line exactly once, so merging them
(`compaction.merge_payloads`, into the layout readers use) is exact. Anything else — a missing item, a gap, a chain overshooting the committed count (a
segment written just before its checkpoint), an item too large to store, or valid counts that
do not add up to the job's — means "not available", and the planner reads the entries.

Finding the chain: each ingest run keeps a manifest item (`{owner}#{job_id}#AM`, sort key =
the run's first segment start) listing the starts of the segments it wrote and where the last
one ends; the ingest keeps the run's list in memory rather than reading manifests back.
A reader follows manifests from line 0 (the end of one run is the start of the next, e.g. a
continuation), fetches exactly the listed items (BatchGetItem) and verifies the chain as
above. Manifests are only hints — a crashed or stale run may leave a wrong one — so when the
hinted chain does not verify, the reader Queries every manifest, then the part's partition.
Exactness never depends on manifests; only speed does (a Query per part reads every segment;
the local moto plane even scans the whole table per Query).

Compacted items: when a job completes, the ingest reads each part's committed chain (verified
against the job's final counts) and overwrites one merged item per part, in its own partition
`{owner}#{job_id}#AJ{part}` (so it can never be taken for a segment), recording the `lines`
and `valid` counts it was verified against. A part too large for one item is split into up to
MAX_CHUNKS chunks (sort keys 0, 1, ...; each a payload of its own, each recording `chunks`). A reader uses it only when those equal the
job's committed counts; otherwise (absent, stale, too large) it follows the chain as above.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import orjson

from horizon.analytics.aggregator import PARTS, UNCOMPRESSED_PARTS, Segment
from horizon.analytics.compaction import merge_payloads, split_payload
from horizon.dynamo import AWS_ERRORS, batch_get, batch_write
from horizon.errors import DependencyError
from horizon.lazy import aws_client
from horizon.settings import get_settings

# Segment items carry the layout they were written in; a reader takes only this one (items of
# an older layout break the chain, and the planner reads the entries).
SEGMENT_FORMAT = "2"
MAX_BLOB_BYTES = 350_000  # DynamoDB items are at most 400 KB; leave room for the keys
MANIFEST = "M"
COMPACTED = "J"
MAX_CHUNKS = 16  # a compacted part is read in one BatchGetItem of this many keys
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

    client = aws_client("dynamodb")

    def __init__(
        self, table: str | None = None, client: Any = None, sleep: Any = time.sleep
    ) -> None:
        self._table = table or get_settings().entries_table
        self._client = client
        self._sleep = sleep
        # (owner, job_id) → the current run's segment starts and last end, in this process.
        self._runs: dict[tuple[str, str], list[int]] = {}

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
                "format": {"N": SEGMENT_FORMAT},
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

    def put_compacted(self, owner: str, job_id: str, last_line: int, valid: int) -> list[str]:
        """Merge each part's committed chain into one item per part (overwriting, never adding).

        Args:
            owner, job_id: a job whose counts are final.
            last_line, valid: its committed final counts; recorded on every compacted item.

        Returns:
            The parts compacted (a part whose chain does not verify is left to the chain).

        Raises:
            DependencyError: DynamoDB failed.
        """
        requests: list[dict[str, Any]] = []
        parts: list[str] = []
        for part in PARTS:
            merged = self.load(owner, job_id, part, last_line, valid, compacted=False)
            if merged is None:
                continue
            payload = merged[0] if merged else merge_payloads(part, [])  # [] for no lines
            blobs = _chunked_blobs(part, payload)
            if blobs is None:
                continue  # too large even in chunks: readers follow the chain
            parts.append(part)
            for index, blob in enumerate(blobs):
                item = {
                    "pk": {"S": _pk(owner, job_id, COMPACTED + part)},
                    "line": {"N": str(index)},
                    "lines": {"N": str(last_line)},
                    "valid": {"N": str(valid)},
                    "chunks": {"N": str(len(blobs))},
                    "blob": {"B": blob},
                }
                requests.append({"PutRequest": {"Item": item}})
        if requests:
            batch_write(self.client, self._table, requests, "compact log aggregates", self._sleep)
        return parts

    def load(
        self,
        owner: str,
        job_id: str,
        part: str,
        last_line: int,
        valid: int,
        compacted: bool = True,
    ) -> list[Any] | None:
        """Return the payloads of a part along the job's committed chain, or None.

        Args:
            owner, job_id: the job.
            part: R, E, C or A.
            last_line, valid: the job's committed counts (lines read, valid entries).
            compacted: try the job's compacted item first (worth it once the job completed).

        Returns:
            Payloads in the read layout (see `compaction`): the compacted item's chunks, or
            the merge of the chain's segments; None when the chain does not reach exactly
            `last_line` with `valid` entries (the caller then reads the entries).

        Raises:
            DependencyError: DynamoDB failed.
        """
        if last_line == 0:
            return []
        if compacted:
            blobs = self._compacted_blobs(owner, job_id, part, last_line, valid)
            if blobs is not None:
                return [_decode(part, blob) for blob in blobs]
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
        return [merge_payloads(part, (_decode(part, blob) for blob in found))]

    def _compacted_blobs(
        self, owner: str, job_id: str, part: str, last_line: int, valid: int
    ) -> list[bytes] | None:
        """The compacted chunks' blobs if all were verified against exactly these counts."""
        pk = _pk(owner, job_id, COMPACTED + part)
        keys = [{"pk": {"S": pk}, "line": {"N": str(i)}} for i in range(MAX_CHUNKS)]
        items = batch_get(
            self.client,
            self._table,
            {"Keys": keys, "ConsistentRead": True},
            "read log aggregates",
            self._sleep,
        )
        if items is None:
            return None
        found = {int(item["line"]["N"]): item for item in items}
        if 0 not in found:
            return None
        chunks = found[0].get("chunks", {}).get("N")
        blobs = []
        for index in range(int(chunks or 0)):
            item = found.get(index)
            if item is None or "blob" not in item or item.get("chunks", {}).get("N") != chunks:
                return None
            if item.get("lines", {}).get("N") != str(last_line):
                return None  # stale: not verified against the job's committed counts
            if item.get("valid", {}).get("N") != str(valid):
                return None
            blobs.append(item["blob"]["B"])
        return blobs or None

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
            request = {
                "Keys": keys,
                "ConsistentRead": True,
                "ProjectionExpression": "line, end_line, #valid, #blob, #format",
                "ExpressionAttributeNames": {
                    "#valid": "valid",
                    "#blob": "blob",
                    "#format": "format",
                },
            }
            items = batch_get(self.client, self._table, request, "read log aggregates", self._sleep)
            # Keys left unprocessed are simply missing: the chain then fails its check.
            found.update({int(item["line"]["N"]): item for item in items or []})
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
        if item.get("format", {}).get("N") != SEGMENT_FORMAT:
            return None  # written in another layout
        end = int(item["end_line"]["N"])
        if end <= position:
            return None  # an empty segment cannot move the chain on
        blobs.append(item["blob"]["B"])
        total += int(item["valid"]["N"])
        position = end
    if position != last_line or total != valid:
        return None
    return blobs


def _chunked_blobs(part: str, payload: Any) -> list[bytes] | None:
    """The payload as blobs of at most MAX_BLOB_BYTES, each itself a payload; None if too big."""
    count = 1
    while count <= MAX_CHUNKS:
        blobs = [_encode(part, chunk) for chunk in split_payload(payload, count)]
        largest = max(len(blob) for blob in blobs)
        if largest <= MAX_BLOB_BYTES:
            return blobs
        count = max(count + 1, -(-count * largest // MAX_BLOB_BYTES) + 1)
    return None


def _encode(part: str, payload: Any) -> bytes:
    blob = orjson.dumps(payload)
    return blob if part in UNCOMPRESSED_PARTS else zlib.compress(blob, 1)


def _decode(part: str, blob: bytes) -> Any:
    if part in UNCOMPRESSED_PARTS:
        return orjson.loads(blob)
    return orjson.loads(zlib.decompress(blob))


def _bounds(item: dict[str, Any] | None) -> list[int]:
    """A manifest's segment starts followed by its last end ([] when absent or unreadable)."""
    if not item or "bounds" not in item:
        return []
    bounds = orjson.loads(item["bounds"]["S"])
    return [b for b in bounds if isinstance(b, int)] if isinstance(bounds, list) else []
