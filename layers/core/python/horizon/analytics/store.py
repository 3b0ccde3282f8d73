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

Compacted items: when a job completes, the ingest verifies each part's committed chain from
the items' bounds alone (as a reader does, without their data) and merges it in several passes
over its segments, each pass one bounded slice of the entries (`compaction.compact_elements`),
writing the merged chunks as they fill — so the merge's memory does not grow with the job. The
chunks go to their own partition `{owner}#{job_id}#AJ{part}` (never taken for a segment), sort
keys 0, 1, ...; each records the run that wrote it and the `lines` and `valid` counts the chain
was verified against, and chunk 0 — written last, the commit point — records how many there
are. A reader uses them only when chunk 0 and every chunk it names are there, from one run,
verified against exactly the job's committed counts; otherwise it follows the chain as above.
A compaction that fails half-way (or a retried one) can therefore never mix runs: each chunk
is an overwrite, and nothing is ever added to.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Iterator
from functools import partial
from typing import Any

import orjson

from horizon.analytics.aggregator import PARTS, UNCOMPRESSED_PARTS, Segment
from horizon.analytics.compaction import (
    ElementTooLargeError,
    compact_elements,
    encoded_chunks,
    merge_payloads,
)
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
CHUNKS_PER_READ = 16  # compacted chunks per BatchGetItem: at most 16 × 350 KB, under its 16 MB
SEGMENTS_PER_READ = 8  # a compaction pass fetches this many segments at a time
BATCH_GET_MAX = 100
# Bounds and counts of a segment item, without its data: enough to verify a chain.
_BOUNDS = "line, end_line, #valid, #format, #overflow"
_BOUNDS_NAMES = {"#valid": "valid", "#format": "format", "#overflow": "overflow"}


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
            blob = _encode(part, segment.parts[part])
            if len(blob) > MAX_BLOB_BYTES:
                item["overflow"] = {"BOOL": True}  # readers fall back to the entries
            else:
                item["blob"] = {"B": blob}
            requests.append({"PutRequest": {"Item": item}})
        batch_write(self.client, self._table, requests, "store log aggregates", self._sleep)

    def put_compacted(self, owner: str, job_id: str, last_line: int, valid: int) -> list[str]:
        """Merge each part's committed chain into compacted chunks (overwriting, never adding).

        Memory stays bounded whatever the job's size: see `compaction.compact_elements`.

        Args:
            owner, job_id: a job whose counts are final.
            last_line, valid: its committed final counts; recorded on every chunk.

        Returns:
            The parts compacted. A part whose chain does not verify, changes under the merge
            or holds an element too large for an item is left to the chain.

        Raises:
            DependencyError: DynamoDB failed.
        """
        hints = self._hints(owner, job_id, last_line)  # the same manifests for every part
        return [
            part
            for part in PARTS
            if self._compact_part(owner, job_id, part, last_line, valid, hints)
        ]

    def _compact_part(
        self, owner: str, job_id: str, part: str, last_line: int, valid: int, hints: list[int]
    ) -> bool:
        bounds = self._find_chain(owner, job_id, part, last_line, valid, hints, with_data=False)
        if bounds is None:
            return False
        segments = partial(self._segments, owner, job_id, part, bounds)
        run = uuid.uuid4().hex  # marks this run's chunks: a reader never mixes two runs
        first: bytes | None = None
        count = 0
        try:
            elements = compact_elements(part, segments, valid)
            for blob in encoded_chunks(part, elements, partial(_encode, part), MAX_BLOB_BYTES):
                if first is None:
                    first = blob  # chunk 0 is the commit point: written once all others are
                else:
                    self._put_chunk(owner, job_id, part, count, blob, run, last_line, valid)
                count += 1
        except (_ChainChangedError, ElementTooLargeError):
            return False
        if first is None:
            return False
        chunks = {"chunks": {"N": str(count)}}
        self._put_chunk(owner, job_id, part, 0, first, run, last_line, valid, chunks)
        return True

    def _put_chunk(
        self,
        owner: str,
        job_id: str,
        part: str,
        index: int,
        blob: bytes,
        run: str,
        last_line: int,
        valid: int,
        extra: dict[str, Any] | None = None,
    ) -> None:
        item = {
            "pk": {"S": _pk(owner, job_id, COMPACTED + part)},
            "line": {"N": str(index)},
            "run": {"S": run},
            "lines": {"N": str(last_line)},
            "valid": {"N": str(valid)},
            "blob": {"B": blob},
            **(extra or {}),
        }
        request = {"PutRequest": {"Item": item}}
        batch_write(self.client, self._table, [request], "compact log aggregates", self._sleep)

    def _segments(
        self, owner: str, job_id: str, part: str, bounds: list[dict[str, Any]]
    ) -> Iterator[Any]:
        """The verified chain's segment payloads, fetched a few at a time (one pass).

        Raises:
            _ChainChangedError: an item is gone or no longer the one verified (the merge
                would no longer be of the committed chain).
        """
        for index in range(0, len(bounds), SEGMENTS_PER_READ):
            wanted = bounds[index : index + SEGMENTS_PER_READ]
            starts = [int(item["line"]["N"]) for item in wanted]
            found = self._get_items(owner, job_id, part, starts)
            for start, verified in zip(starts, wanted, strict=True):
                item = found.pop(start, None)
                if (
                    item is None
                    or "blob" not in item
                    or item["end_line"] != verified["end_line"]
                    or item["valid"] != verified["valid"]
                    or item.get("format") != verified.get("format")
                ):
                    raise _ChainChangedError(f"segment {start} of part {part} changed")
                yield _decode(part, item["blob"]["B"])

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
            compacted: try the job's compacted chunks first (worth it once the job completed).

        Returns:
            Payloads in the read layout (see `compaction`): the compacted chunks, or the merge
            of the chain's segments; None when the chain does not reach exactly `last_line`
            with `valid` entries (the caller then reads the entries).

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
        found = self._find_chain(owner, job_id, part, last_line, valid, hints, with_data=True)
        if found is None:
            return None
        return [merge_payloads(part, (_decode(part, item["blob"]["B"]) for item in found))]

    def _find_chain(
        self,
        owner: str,
        job_id: str,
        part: str,
        last_line: int,
        valid: int,
        hints: list[int],
        with_data: bool,
    ) -> list[dict[str, Any]] | None:
        """The items of the part's committed chain, in line order, or None if it fails.

        Tries the segment starts the manifests hint at (`_hints`), then every manifest, then
        the part's whole partition. Without data, the items carry only their bounds and counts
        (for a compaction, which then fetches the data a few segments at a time).
        """
        if last_line == 0:
            return []
        items = self._get_items(owner, job_id, part, hints, with_data)
        found = _chain(items, last_line, valid, with_data)
        if found is None:
            manifests = self._query(_pk(owner, job_id, MANIFEST))
            starts = [s for m in manifests for s in _bounds(m)]
            items = self._get_items(owner, job_id, part, starts, with_data)
            found = _chain(items, last_line, valid, with_data)
        if found is None:
            queried = self._query(_pk(owner, job_id, part), with_data)
            found = _chain({int(i["line"]["N"]): i for i in queried}, last_line, valid, with_data)
        return found

    def _compacted_blobs(
        self, owner: str, job_id: str, part: str, last_line: int, valid: int
    ) -> list[bytes] | None:
        """The compacted chunks' blobs if all are there, of one run, verified against exactly
        these counts. One BatchGetItem for up to CHUNKS_PER_READ chunks, one more per as many."""
        first_keys = self._chunks(owner, job_id, part, 0, CHUNKS_PER_READ)
        if first_keys is None or 0 not in first_keys:
            return None
        head = first_keys[0]
        count = int(head.get("chunks", {}).get("N") or 0)
        found = first_keys
        for start in range(CHUNKS_PER_READ, count, CHUNKS_PER_READ):
            more = self._chunks(owner, job_id, part, start, min(count, start + CHUNKS_PER_READ))
            if more is None:
                return None
            found.update(more)
        blobs = []
        for index in range(count):
            item = found.get(index)
            if item is None or "blob" not in item or item.get("run") != head.get("run"):
                return None  # missing, or left by another run
            if "chunks" in item and item["chunks"] != head["chunks"]:
                return None  # an older layout's chunk, of a differently split run
            if item.get("lines", {}).get("N") != str(last_line):
                return None  # stale: not verified against the job's committed counts
            if item.get("valid", {}).get("N") != str(valid):
                return None
            blobs.append(item["blob"]["B"])
        return blobs or None

    def _chunks(
        self, owner: str, job_id: str, part: str, start: int, stop: int
    ) -> dict[int, dict[str, Any]] | None:
        """Compacted chunks start..stop-1 that exist, by index (None if keys stayed unread)."""
        return self._batch_get(_pk(owner, job_id, COMPACTED + part), list(range(start, stop)), {})

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
        self, owner: str, job_id: str, part: str, starts: list[int], with_data: bool = True
    ) -> dict[int, dict[str, Any]]:
        """The part's segment items that exist at these starts, by start. Keys left
        unprocessed are simply missing: the chain then fails its check."""
        pk = _pk(owner, job_id, part)
        found: dict[int, dict[str, Any]] = {}
        unique = sorted(set(starts))
        for index in range(0, len(unique), BATCH_GET_MAX):
            lines = unique[index : index + BATCH_GET_MAX]
            found.update(self._batch_get(pk, lines, _projection(with_data)) or {})
        return found

    def _batch_get(
        self, pk: str, lines: list[int], projection: dict[str, Any]
    ) -> dict[int, dict[str, Any]] | None:
        """Items of partition `pk` at these sort keys (at most BATCH_GET_MAX) that exist, by
        sort key; None if some keys stayed unread."""
        keys = [{"pk": {"S": pk}, "line": {"N": str(line)}} for line in lines]
        request = {"Keys": keys, "ConsistentRead": True, **projection}
        items = batch_get(self.client, self._table, request, "read log aggregates", self._sleep)
        return None if items is None else {int(item["line"]["N"]): item for item in items}

    def _query(self, pk: str, with_data: bool = True) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            **({} if with_data else _projection(with_data=False)),
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


class _ChainChangedError(Exception):
    """A segment changed between a compaction's check of the chain and its read."""


def _projection(with_data: bool) -> dict[str, Any]:
    """What a BatchGetItem or Query of segment items reads: with their data, or bounds only."""
    names = {**_BOUNDS_NAMES, "#blob": "blob"} if with_data else _BOUNDS_NAMES
    expression = f"{_BOUNDS}, #blob" if with_data else _BOUNDS
    return {"ProjectionExpression": expression, "ExpressionAttributeNames": names}


def _chain(
    items: dict[int, dict[str, Any]], last_line: int, valid: int, with_data: bool = True
) -> list[dict[str, Any]] | None:
    """Follow the items from line 0 to `last_line`: the chain's items, or None if it fails."""
    chain: list[dict[str, Any]] = []
    position = total = 0
    while position < last_line:
        item = items.get(position)
        if item is None or "overflow" in item or (with_data and "blob" not in item):
            return None
        if item.get("format", {}).get("N") != SEGMENT_FORMAT:
            return None  # written in another layout
        end = int(item["end_line"]["N"])
        if end <= position:
            return None  # an empty segment cannot move the chain on
        chain.append(item)
        total += int(item["valid"]["N"])
        position = end
    if position != last_line or total != valid:
        return None
    return chain


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
