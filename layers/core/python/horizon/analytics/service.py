"""The query service: resolve the owner's jobs, plan each part, compute the answer.

Planning is per part of the question (the main selection, the anchors of `relative_to`):
ask the aggregates first; if they cannot answer that shape, or a job's committed chain of
aggregate items is incomplete, read the entries. The answer says `source: "aggregates"` only
when no part read entries. Both paths are exact; see DESIGN.md (log analytics).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from horizon.analytics.aggregator import MINUTE_MS
from horizon.analytics.compute import iso_ms, metric_value
from horizon.analytics.executors import AggregatesExecutor, EntriesExecutor
from horizon.analytics.models import AnchorRow, QueryAnswer, QueryBody, WindowPublic
from horizon.analytics.store import AggregateStore
from horizon.analytics.timeline import Points, Timeline, by_anchor, by_clock, by_sliding
from horizon.entries import EntryStore
from horizon.errors import InvalidRequestError
from horizon.jobs import Job, JobStore

logger = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_TOP = 1


class QueryService:
    """Answers analytics queries over the caller's jobs.

    Args:
        jobs, entries, aggregates: the stores; default to the tables in the settings.
        use_aggregates: False forces the entries path (the reference; benchmarks, tests).
    """

    def __init__(
        self,
        jobs: JobStore | None = None,
        entries: EntryStore | None = None,
        aggregates: AggregateStore | None = None,
        use_aggregates: bool = True,
    ) -> None:
        self._jobs = jobs or JobStore()
        self._by_entries = EntriesExecutor(entries or EntryStore())
        self._by_aggregates = AggregatesExecutor(aggregates or AggregateStore())
        self._use_aggregates = use_aggregates

    def run(self, owner: str, query: QueryBody, job_id: str | None = None) -> QueryAnswer:
        """Answer `query` over the owner's jobs.

        Args:
            owner: the caller's tenant; other owners' jobs do not exist for it.
            query: the validated query.
            job_id: the job of `POST /jobs/{job_id}/query` (then `job_ids` must be absent or
                name only that job).

        Returns:
            The exact answer and how it was computed.

        Raises:
            NotFoundError: a job does not exist for this owner (404).
            InvalidRequestError: no jobs named, or `job_ids` contradicts the path (422).
            DependencyError: DynamoDB failed (503).
        """
        job_ids = query.job_ids
        if job_id is not None:
            if job_ids is not None and job_ids != [job_id]:
                raise InvalidRequestError("job_ids must be omitted when the path names the job")
            job_ids = [job_id]
        if not job_ids:
            raise InvalidRequestError("job_ids must name at least one job")
        jobs = self._resolve(owner, job_ids)
        used_entries: list[bool] = []

        def plan(by_aggregates: Sequence[Callable[[], T | None]], by_entries: Callable[[], T]) -> T:
            if self._use_aggregates:
                for attempt in by_aggregates:
                    found = attempt()
                    if found is not None:
                        return found
            used_entries.append(True)
            return by_entries()

        where, field, metric = query.compiled, query.field, query.metric
        aggs, ents = self._by_aggregates, self._by_entries
        answer: dict[str, Any] = {"metric": metric, "field": field}

        def timeline(minutes_exact: bool) -> Timeline:
            """Points from an instant index, per-minute rollups where whole minutes are exact
            for the question, else points from the entries."""
            attempts: list[Callable[[], Timeline | None]] = [
                lambda: aggs.points(jobs, where, field, metric)
            ]
            if minutes_exact:
                attempts.append(lambda: aggs.buckets(jobs, where, field, metric))
            return plan(attempts, lambda: ents.points(jobs, where, field, metric))

        if query.relative_to is not None:
            spec = query.relative_to
            anchor_jobs = self._resolve(owner, spec.job_ids) if spec.job_ids else jobs
            anchors = plan(
                [lambda: aggs.anchors(anchor_jobs, spec.compiled)],
                lambda: ents.anchors(anchor_jobs, spec.compiled),
            )
            # Whole-minute rollups answer exactly when every anchor window is whole minutes.
            bounds = (spec.duration_ms, *(anchor.timestamp_ms for anchor in anchors))
            aligned = all(bound % MINUTE_MS == 0 for bound in bounds)
            rows, value, n = by_anchor(timeline(aligned), anchors, spec.duration_ms, metric)
            answer["rows"] = [
                AnchorRow(
                    anchor=row.anchor.public(),
                    start=iso_ms(row.start_ms),
                    end=iso_ms(row.end_ms),
                    count=row.count,
                    value=row.value,
                )
                for row in rows
            ]
            answer.update(value=value, n=n)
        elif query.window is not None:
            window = query.window
            tumbling = window.mode == "tumbling"
            # Sliding windows start at any ms, so only points serve them.
            found = timeline(tumbling and window.size_ms % MINUTE_MS == 0)
            top = query.top or DEFAULT_TOP
            if tumbling:
                picked = by_clock(found, window.size_ms, metric, top)
            else:
                assert isinstance(found, Points)  # sliding never asks for buckets
                picked = by_sliding(found, window.size_ms, metric, top)
            answer["windows"] = [
                WindowPublic(
                    start=iso_ms(w.start_ms), end=iso_ms(w.end_ms), count=w.count, value=w.value
                )
                for w in picked
            ]
            answer["window"] = {"size": window.size, "mode": window.mode}
            empty = 0 if metric in ("count", "sum") else None
            answer.update(value=picked[0].value if picked else empty, n=found.size)
        elif metric == "count":
            count = plan(
                [lambda: aggs.count(jobs, where, field)], lambda: ents.count(jobs, where, field)
            )
            answer.update(value=count, n=count)
        else:
            assert field is not None  # the model requires a field for other metrics
            values = plan(
                [lambda: aggs.values(jobs, where, field)], lambda: ents.values(jobs, where, field)
            )
            value, n = metric_value(metric, values)
            answer.update(value=value, n=n)
        answer["source"] = "entries" if used_entries else "aggregates"
        return QueryAnswer(**answer)

    def _resolve(self, owner: str, job_ids: Sequence[str]) -> list[Job]:
        # Duplicates would count a job twice.
        return [self._jobs.get(owner, job_id) for job_id in dict.fromkeys(job_ids)]
