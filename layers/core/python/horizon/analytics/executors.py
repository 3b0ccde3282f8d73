"""The two ways to select what a query needs: read every entry, or merge aggregates.

Each executor answers these requests over a set of jobs and a compiled filter: `values` (the
multiset of a numeric field's values), `count` (how many entries match; with a field, how many
of them have it), `instants` (sorted epoch ms of matching entries), `points` (the matching
entries in time order with the values a metric needs), `buckets` (those values per whole
minute; aggregates only) and `anchors` (matching entries as anchor events). `EntriesExecutor`
answers everything and is the reference; `AggregatesExecutor` answers what its items allow and
returns None otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any

from horizon.analytics.aggregator import ANCHOR_FIELDS, MINUTE_MS, undelta, unpack
from horizon.analytics.compute import Anchor
from horizon.analytics.filters import MISSING, Condition, Filter, field_getter
from horizon.analytics.store import AggregateStore
from horizon.analytics.timeline import Buckets, Points
from horizon.entries import EntryStore, StoredEntry
from horizon.jobs import Job, JobStatus

PAGE = 1000
ROLLUP_FIELDS = frozenset(("api_id", "endpoint", "http_status", "response_time_ms"))


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


class EntriesExecutor:
    """Reads every stored entry of the jobs (one Query per 1,000 lines) and filters them."""

    def __init__(self, entries: EntryStore) -> None:
        self._entries = entries

    def _matching(self, jobs: Sequence[Job], where: Filter) -> Iterator[StoredEntry]:
        for job in jobs:
            after: int | None = 0
            while after is not None:
                page, after = self._entries.page_entries(
                    job.owner, job.job_id, job.counts.lines, after=after, limit=PAGE
                )
                for stored in page:
                    if where.matches(stored.entry):
                        yield stored

    def values(self, jobs: Sequence[Job], where: Filter, field: str) -> Counter[Any]:
        get = field_getter(field)
        found: Counter[Any] = Counter()
        for stored in self._matching(jobs, where):
            value = get(stored.entry)
            if _is_number(value):
                found[value] += 1
        return found

    def count(self, jobs: Sequence[Job], where: Filter, field: str | None) -> int:
        if field is None:
            return sum(1 for _ in self._matching(jobs, where))
        get = field_getter(field)
        return sum(1 for stored in self._matching(jobs, where) if get(stored.entry) is not MISSING)

    def instants(self, jobs: Sequence[Job], where: Filter) -> list[int]:
        return sorted(stored.entry["timestamp_ms"] for stored in self._matching(jobs, where))

    def points(self, jobs: Sequence[Job], where: Filter, field: str | None, metric: str) -> Points:
        """The matching entries in time order, with the field's numeric values unless counting.

        `count` takes the entries that have the field (any value) or, without a field, all;
        other metrics take the entries whose field holds a number, as `values` does.
        """
        matching = (stored.entry for stored in self._matching(jobs, where))
        if field is None:
            return Points(sorted(entry["timestamp_ms"] for entry in matching))
        get = field_getter(field)
        if metric == "count":
            return Points(
                sorted(entry["timestamp_ms"] for entry in matching if get(entry) is not MISSING)
            )
        pairs = [(entry["timestamp_ms"], get(entry)) for entry in matching]
        timed = sorted((pair for pair in pairs if _is_number(pair[1])), key=itemgetter(0))
        return Points([instant for instant, _ in timed], [value for _, value in timed])

    def anchors(self, jobs: Sequence[Job], where: Filter) -> list[Anchor]:
        found = []
        for job in jobs:
            for stored in self._matching([job], where):
                entry = stored.entry
                fields = {name: entry[name] for name in ANCHOR_FIELDS if name in entry}
                found.append(Anchor(entry["timestamp_ms"], job.job_id, stored.line, fields))
        return found


class AggregatesExecutor:
    """Merges the committed ingest-time aggregates of the jobs; None where they cannot answer.

    Which shapes it answers (anything else is None, and the planner reads the entries):
    - `values`/`count`/`buckets` of `response_time_ms` (or plain `count`) filtered on any of
      api_id, endpoint, http_status and response_time_ms, with a time range on whole minutes:
      the `R` rollups (the exact value multiset per minute and group makes `> 100` exact).
    - `count`/`instants`/`points` (plain counts) filtered on exactly one of event_type or
      error_code (any operators) and any time range: the `E`/`C` instant indexes.
    - `anchors` filtered on known fields where a condition on version_id guarantees every
      match has one, or where every entry of the jobs is an anchor: the `A` items.
    """

    def __init__(self, store: AggregateStore) -> None:
        self._store = store

    def _load(self, jobs: Sequence[Job], part: str) -> list[tuple[Job, Any]] | None:
        loaded: list[tuple[Job, Any]] = []
        for job in jobs:
            payloads = self._store.load(
                job.owner,
                job.job_id,
                part,
                job.counts.lines,
                job.counts.valid,
                compacted=job.status is JobStatus.COMPLETED,  # only completed jobs have one
            )
            if payloads is None:
                return None
            loaded.extend((job, payload) for payload in payloads)
        return loaded

    # -- rollups -----------------------------------------------------------------------------

    def _rollup_minutes(self, jobs: Sequence[Job], where: Filter) -> Iterator[list[Any]] | None:
        if not where.fields <= ROLLUP_FIELDS:
            return None
        if any(b is not None and b % MINUTE_MS for b in (where.from_ms, where.to_ms)):
            return None  # a partial minute needs each entry's instant
        loaded = self._load(jobs, "R")
        if loaded is None:
            return None
        return self._minutes(loaded, where)

    @staticmethod
    def _minutes(loaded: list[tuple[Job, Any]], where: Filter) -> Iterator[list[Any]]:
        """Yield [minute, count, flat values] of the matching groups' minutes in range."""
        timed = where.from_ms is not None or where.to_ms is not None
        # Segments repeat the same groups: decide each group once.
        decided: dict[tuple[Any, Any, Any], bool] = {}
        for _job, groups in loaded:
            for api_id, endpoint, status, minutes in groups:
                key = (api_id, endpoint, status)
                matches = decided.get(key)
                if matches is None:
                    matches = decided[key] = (
                        where.test_field("api_id", api_id)
                        and where.test_field("endpoint", endpoint)
                        and where.test_field("http_status", status)
                    )
                if not matches:
                    continue
                rows = unpack(minutes)  # only the matching groups are unpacked
                if not timed:
                    yield from rows
                    continue
                for row in rows:
                    if where.in_range(row[0] * MINUTE_MS):
                        yield row

    def values(self, jobs: Sequence[Job], where: Filter, field: str) -> Counter[Any] | None:
        if field != "response_time_ms":
            return None
        minutes = self._rollup_minutes(jobs, where)
        if minutes is None:
            return None
        found: Counter[Any] = Counter()
        conditions = where.conditions.get("response_time_ms", ())
        for row in minutes:
            found.update(dict(_passing(row[2], conditions)))
        return found

    def buckets(
        self, jobs: Sequence[Job], where: Filter, field: str | None, metric: str
    ) -> Buckets | None:
        """Per whole minute, the multiset a metric needs, from the rollups (or None).

        For `count` without a field each entry counts as the value None; `count` of
        response_time_ms and the other metrics take its values, as `values` does.
        """
        if field not in (None, "response_time_ms") or (field is None and metric != "count"):
            return None
        minutes = self._rollup_minutes(jobs, where)
        if minutes is None:
            return None
        conditions = where.conditions.get("response_time_ms", ())
        by_value = field is not None or bool(conditions)
        merged: dict[int, Counter[Any]] = {}
        for minute, count, flat in minutes:
            found = merged.get(minute)
            if found is None:
                found = merged[minute] = Counter()
            if not by_value:
                found[None] += count
            elif field is not None:
                found.update(dict(_passing(flat, conditions)))
            else:  # a plain count, filtered on the values: how many passed
                found[None] += sum(n for _, n in _passing(flat, conditions))
        ordered = sorted(item for item in merged.items() if item[1].total())
        return Buckets(
            [minute * MINUTE_MS for minute, _ in ordered], [found for _, found in ordered]
        )

    def points(
        self, jobs: Sequence[Job], where: Filter, field: str | None, metric: str
    ) -> Points | None:
        """A plain count's matching instants from the instant indexes (or None)."""
        if field is not None or metric != "count":
            return None
        found = self.instants(jobs, where)
        return None if found is None else Points(found)

    def count(self, jobs: Sequence[Job], where: Filter, field: str | None) -> int | None:
        if field is None and len(where.fields) == 1:
            (name,) = where.fields
            if name in ("event_type", "error_code"):
                found = self.instants(jobs, where)
                return None if found is None else len(found)
        if field not in (None, "response_time_ms"):
            return None
        if field is None and "response_time_ms" not in where.fields:
            minutes = self._rollup_minutes(jobs, where)
            return None if minutes is None else sum(row[1] for row in minutes)
        values = self.values(jobs, where, "response_time_ms")
        return None if values is None else sum(values.values())

    # -- instant indexes ---------------------------------------------------------------------

    def instants(self, jobs: Sequence[Job], where: Filter) -> list[int] | None:
        if len(where.fields) != 1:
            return None
        (name,) = where.fields
        if name not in ("event_type", "error_code"):
            return None
        loaded = self._load(jobs, "E" if name == "event_type" else "C")
        if loaded is None:
            return None
        timed = where.from_ms is not None or where.to_ms is not None
        found: list[int] = []
        for _job, payload in loaded:
            # [[key, packed], ...]; an event-type part compacted before 2026-11-22 is a dict.
            pairs = payload.items() if type(payload) is dict else payload
            for key, deltas in pairs:
                if where.test_field(name, key):
                    instants = undelta(unpack(deltas))
                    if timed:
                        found.extend(i for i in instants if where.in_range(i))
                    else:
                        found.extend(instants)
        found.sort()
        return found

    # -- anchors -----------------------------------------------------------------------------

    def anchors(self, jobs: Sequence[Job], where: Filter) -> list[Anchor] | None:
        if not where.fields <= set(ANCHOR_FIELDS):
            return None
        loaded = self._load(jobs, "A")
        if loaded is None:
            return None
        if "version_id" not in where.fields:
            # Only entries with a version_id are kept: complete only if every entry has one.
            kept = sum(len(payload) for _job, payload in loaded)
            if kept != sum(job.counts.valid for job in jobs):
                return None
        found = []
        for job, payload in loaded:
            for line, instant, fields in payload:
                if not where.in_range(instant):
                    continue
                if all(where.test_field(name, fields.get(name, MISSING)) for name in where.fields):
                    found.append(Anchor(instant, job.job_id, line, fields))
        return found


def _passing(flat: list[Any], conditions: Sequence[Condition]) -> Iterator[tuple[Any, int]]:
    """The (value, count) pairs of a rollup row's flat [value, count, ...] that pass."""
    for index in range(0, len(flat), 2):
        value = flat[index]
        if all(condition.test(value) for condition in conditions):
            yield value, flat[index + 1]
