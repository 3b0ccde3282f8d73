"""Domain exceptions shared by every capability. HTTP status codes are chosen in one place
(`horizon.api.errors`), never here."""

from __future__ import annotations


class HorizonError(Exception):
    """Base of every domain error; its message is safe to show to the caller."""


class NotFoundError(HorizonError):
    """The item does not exist, or belongs to another owner (which must look the same)."""


class InvalidRequestError(HorizonError):
    """The caller's input is malformed or out of range."""


class UnsupportedMediaError(InvalidRequestError):
    """The upload is not of an accepted type."""


class PayloadTooLargeError(InvalidRequestError):
    """The payload exceeds what this path accepts."""


class ConflictError(HorizonError):
    """The item changed under the caller (a conditional write failed)."""


class DependencyError(HorizonError):
    """A backing service (DynamoDB, S3, SQS) failed; usually worth a retry."""


class RateLimitedError(HorizonError):
    """The caller is over a limit; the same request may succeed after `retry_after_s`.

    `headers` are more headers for the answer (the limiter's `X-RateLimit-*`).
    """

    def __init__(
        self, message: str, retry_after_s: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.headers = dict(headers or {})
