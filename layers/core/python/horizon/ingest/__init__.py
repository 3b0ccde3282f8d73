"""Log ingestion: S3 upload → SQS → validate line by line → DynamoDB, with live progress.

- `validator.validate_line`: the fast parse-and-validate core (the LogEntry contract).
- `models.LogEntry`: the same contract as a pydantic model (docs, benchmark baseline).
- `reader.iter_lines`: streams an object's lines from a byte offset in flat memory.
- `messages.parse_body`: ingest-queue messages (S3 notifications, test events, continuations).
- `service.IngestService`: claims a job, ingests, checkpoints, finishes or continues.
"""

from horizon.ingest.exceptions import (
    IngestDependencyError,
    IngestError,
    JobBusyError,
    MalformedMessageError,
    ObjectUnavailableError,
    RetryableIngestError,
)
from horizon.ingest.messages import continuation_body, parse_body, parse_object_key
from horizon.ingest.models import LogEntry
from horizon.ingest.reader import Line, iter_lines
from horizon.ingest.service import IngestService
from horizon.ingest.types import IngestOutcome, IngestRequest, ProgressPublisher, RemainingMs
from horizon.ingest.validator import validate_line

__all__ = [
    "IngestDependencyError",
    "IngestError",
    "IngestOutcome",
    "IngestRequest",
    "IngestService",
    "JobBusyError",
    "Line",
    "LogEntry",
    "MalformedMessageError",
    "ObjectUnavailableError",
    "ProgressPublisher",
    "RemainingMs",
    "RetryableIngestError",
    "continuation_body",
    "iter_lines",
    "parse_body",
    "parse_object_key",
    "validate_line",
]
