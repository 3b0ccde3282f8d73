"""One rate limiter for every capability: fixed-window counters in DynamoDB.

Each limit counts a subject's requests in windows of `window_s` seconds aligned to the Unix
epoch (so a 86,400 s window is a UTC day). A count is one atomic `UpdateItem` with a condition,
so the limit holds across Lambda instances: the request that would exceed it is refused, never
counted, whatever runs at once. Counter items expire (TTL) a window after theirs ends.

Limits are checked from the shortest window to the longest, and a refused request stops there:
a burst refused does not use up the day's quota (a request refused by a longer limit has been
counted in the shorter ones before it, which only makes their windows stricter).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from horizon.dynamo import Table, serialize_value
from horizon.errors import ConflictError, RateLimitedError
from horizon.settings import get_settings


@dataclass(frozen=True)
class Limit:
    """A number of requests allowed per window.

    Attributes:
        name: names the limit to the caller ("send-email per minute") and in the counter's key.
        limit: requests allowed per window (≥ 1).
        window_s: the window's length in seconds: 1 for a burst, 60, 86,400 for a UTC day.
    """

    name: str
    limit: int
    window_s: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_s < 1:
            raise ValueError(f"limit {self.name!r}: limit and window_s must be ≥ 1")


@dataclass(frozen=True)
class Usage:
    """Where a subject stands against one limit after a request.

    Attributes:
        limit: requests allowed in the window.
        remaining: requests still allowed in it.
        reset_epoch_s: when the window ends (Unix seconds).
    """

    limit: int
    remaining: int
    reset_epoch_s: int

    def headers(self) -> dict[str, str]:
        """The `X-RateLimit-*` headers of an answer."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch_s),
        }


class LimitExceededError(RateLimitedError):
    """A limit is reached (429): which one, and the usage for the answer's headers."""

    def __init__(self, limit: Limit, usage: Usage, retry_after_s: int) -> None:
        super().__init__(
            f"rate limit exceeded: {limit.name} ({limit.limit} requests per "
            f"{_window_text(limit.window_s)}); retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
            headers=usage.headers(),
        )
        self.limit = limit
        self.usage = usage


class RateLimiter(Table):
    """Counts requests against limits, in the `limits` table.

    Args:
        table: the table name; `LIMITS_TABLE` from the settings when omitted.
        client: a DynamoDB client; the shared one when omitted.
        clock: the time in Unix seconds (tests pass their own).
    """

    def __init__(
        self,
        table: str | None = None,
        client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(table or get_settings().limits_table, client)
        self._clock = clock

    def hit(self, subject: str, limits: Sequence[Limit]) -> Usage:
        """Count one request of `subject` against every limit.

        Args:
            subject: whose requests these are, e.g. `f"{owner}#send-email"` or a key id.
            limits: the limits that apply (at least one).

        Returns:
            The most constraining usage (fewest requests remaining) after this request.

        Raises:
            LimitExceededError: a limit is reached (a RateLimitedError, 429): its message names
                the limit, `retry_after_s` is when its window ends (whole seconds, ≥ 1), its
                `usage` and `headers` carry the `X-RateLimit-*` figures.
            DependencyError: DynamoDB failed.
            ValueError: no limits were given.
        """
        if not limits:
            raise ValueError("hit() needs at least one limit")
        now = self._clock()
        usages = [self._count(subject, limit, now) for limit in sorted(limits, key=_window)]
        return min(usages, key=lambda usage: (usage.remaining, usage.reset_epoch_s))

    def _count(self, subject: str, limit: Limit, now: float) -> Usage:
        start = int(now // limit.window_s) * limit.window_s
        reset = start + limit.window_s
        try:
            response = self._call(
                "update_item",
                "count the request",
                Key={"pk": serialize_value(f"{subject}#{limit.name}#{start}")},
                UpdateExpression="ADD #count :one SET expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={
                    ":one": serialize_value(1),
                    ":limit": serialize_value(limit.limit),
                    ":expires": serialize_value(reset + limit.window_s),
                },
                ReturnValues="UPDATED_NEW",
            )
        except ConflictError as error:
            usage = Usage(limit=limit.limit, remaining=0, reset_epoch_s=reset)
            retry_after = max(1, math.ceil(reset - now))
            raise LimitExceededError(limit, usage, retry_after) from error
        count = int(response["Attributes"]["count"]["N"])
        return Usage(limit=limit.limit, remaining=max(0, limit.limit - count), reset_epoch_s=reset)


def _window(limit: Limit) -> int:
    return limit.window_s


def _window_text(window_s: int) -> str:
    for length, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
        if window_s % length == 0:
            count = window_s // length
            return unit if count == 1 else f"{count} {unit}s"
    return f"{window_s} s"  # unreachable: every window is a whole number of seconds
