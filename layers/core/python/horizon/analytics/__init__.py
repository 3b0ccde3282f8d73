"""Log analytics: exact answers about ingested logs, from ingest-time aggregates or entries.

- `models.QueryBody`: the request (metric, field, filter, window, top, relative_to).
- `filters`: compiled filters and their matching semantics.
- `aggregator.SegmentAggregator`: ingest-time aggregates of one checkpointed segment.
- `compaction`: a chain of segments merged into the layout readers use.
- `store.AggregateStore`: aggregate items in the entries table; the committed chain.
- `executors`: the entries executor (the reference) and the aggregates executor.
- `compute`: exact metrics; count windows and anchor rows over instants.
- `timeline`: any metric per window or per anchor, over points or per-minute buckets.
- `service.QueryService`: plans each part of a query and answers it.
"""

from horizon.analytics.aggregator import Segment, SegmentAggregator
from horizon.analytics.models import QueryAnswer, QueryBody
from horizon.analytics.service import QueryService
from horizon.analytics.store import AggregateStore

__all__ = [
    "AggregateStore",
    "QueryAnswer",
    "QueryBody",
    "QueryService",
    "Segment",
    "SegmentAggregator",
]
