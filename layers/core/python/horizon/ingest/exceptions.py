"""Failure modes of the ingest capability.

Retryable errors make the SQS message come back after its visibility timeout; everything else
the service handles itself (skips, or marks the job failed) so that a poison message never loops.
"""

from __future__ import annotations

from horizon.errors import DependencyError, HorizonError


class IngestError(HorizonError):
    """Base of the ingest capability's errors."""


class MalformedMessageError(IngestError):
    """An ingest-queue message body is neither an S3 notification nor a continuation."""


class RetryableIngestError(IngestError):
    """The ingest could not go on now but may later: the message is to be retried."""


class JobBusyError(RetryableIngestError):
    """Another worker holds the job's lease; retry after it ends or expires."""


class IngestDependencyError(RetryableIngestError, DependencyError):
    """S3, DynamoDB or SQS failed in a way that is usually transient."""


class ObjectUnavailableError(IngestError):
    """The uploaded object is gone or unreadable for good (deleted, access denied)."""
