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

from horizon.dynamo import Table, deserialize, serialize_value
from horizon.errors import ConflictError, DependencyError, RateLimitedError
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
        self._seen: dict[tuple[str, str], int] = {}

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
        usages = self.hit_all(subject, limits)
        return min(usages.values(), key=lambda usage: (usage.remaining, usage.reset_epoch_s))

    def hit_all(
        self,
        subject: str,
        limits: Sequence[Limit],
        on_new_window: Callable[[], None] | None = None,
    ) -> dict[Limit, Usage]:
        """Like `hit`, but return the usage of every limit (for callers that show one of them,
        e.g. a daily quota rather than its burst).

        Args:
            on_new_window: called when this request opened the longest limit's window (the
                first request of the subject's day, say); what it raises is raised. The
                caller checks there what a block (`block`) would otherwise have told.

        Raises:
            BlockedError: the subject is blocked (`block`) in this window.
        """
        if not limits:
            raise ValueError("hit() needs at least one limit")
        now = self._clock()
        ordered = sorted(limits, key=_window)
        counter = _Counter(subject, ordered, now)
        # The shorter windows' starts this instance saw last: usually still current, so the
        # first write's guess is right and a request costs one UpdateItem.
        seen = {limit: self._seen.get((subject, limit.name)) for limit in counter.shorter}
        for _ in range(MAX_WRITES):
            try:
                stored = self._write(counter, seen)
            except _Refused as refused:
                seen = counter.explain(refused.item)  # raises when a limit is reached
                continue
            for limit in counter.shorter:
                self._seen[(subject, limit.name)] = counter.starts[limit]
            if on_new_window is not None and int(stored["count"]) == 1:
                on_new_window()
            return counter.usages(stored)
        raise DependencyError("could not count the request: its counter kept changing")

    def block(self, subject: str, limits: Sequence[Limit]) -> None:
        """Refuse every later request of `subject` (`BlockedError`) in the longest limit's
        current window and its neighbours (so a caller whose clock is a little off sees it
        too); a request that opens a later window calls its `on_new_window` first."""
        longest = max(limits, key=_window)
        start = _start(self._clock(), longest)
        for window in (start - longest.window_s, start, start + longest.window_s):
            self._call(
                "update_item",
                "block the subject",
                Key={"pk": serialize_value(_counter_key(subject, longest, window))},
                UpdateExpression="SET #blocked = :yes, expires_at = if_not_exists(expires_at, :x)",
                ExpressionAttributeNames={"#blocked": BLOCKED},
                ExpressionAttributeValues={
                    ":yes": serialize_value(True),
                    ":x": serialize_value(window + 2 * longest.window_s),
                },
            )

    def _write(self, counter: _Counter, seen: dict[Limit, int | None]) -> dict[str, Any]:
        request = counter.request(seen)
        try:
            response = self._call(
                "update_item",
                "count the request",
                # Every write updates each window's count: the new counts are all it needs back.
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **request,
            )
        except ConflictError as error:
            item = getattr(error.__cause__, "response", {}).get("Item")
            raise _Refused(deserialize(item) if item else None) from error
        return deserialize(response["Attributes"])


# A guess about a shorter window can be wrong once (it rolled over, or another instance
# opened it); a third write means the counter is changing under heavy contention.
MAX_WRITES = 3
BLOCKED = "blocked"


class BlockedError(ConflictError):
    """The subject was blocked (`RateLimiter.block`): its requests are refused."""


class _Refused(Exception):
    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("the counter's condition failed")
        self.item = item


class _Counter:
    """One request's count: every limit of a subject in one item, that of the longest
    limit's window (`count`), which also holds each shorter limit's window start and count.

    One conditional UpdateItem counts the request in every window or in none: a request
    refused by one limit uses up no other. The write states, per shorter limit, whether its
    stored window is the current one (then it is incremented) or an older one (then it
    starts again at 1); when that guess is wrong, the stored item (returned on the failed
    condition) tells the truth for the next write.
    """

    def __init__(self, subject: str, ordered: Sequence[Limit], now: float) -> None:
        self.now = now
        self.longest, self.shorter = ordered[-1], list(ordered[:-1])
        self.start = _start(now, self.longest)
        self.key = _counter_key(subject, self.longest, self.start)
        self.starts = {limit: _start(now, limit) for limit in self.shorter}

    def request(self, seen: dict[Limit, int | None]) -> dict[str, Any]:
        names = {"#count": "count", "#blocked": BLOCKED}
        values: dict[str, Any] = {":one": 1, ":limit": self.longest.limit}
        current = [limit for limit in self.shorter if seen.get(limit) == self.starts[limit]]
        # A shorter window guessed current means the item exists: the steady state's write
        # neither sets its expiry nor allows for its absence (a smaller expression to evaluate).
        exists = bool(current)
        sets, adds = [], ["#count :one"]
        conditions = ["attribute_not_exists(#blocked)"]
        if exists:
            conditions.append("#count < :limit")
        else:
            values[":expires"] = self.start + 2 * self.longest.window_s
            sets.append("expires_at = if_not_exists(expires_at, :expires)")
            conditions.append("(attribute_not_exists(#count) OR #count < :limit)")
        for n, limit in enumerate(self.shorter):
            start, count = f"#s{n}", f"#c{n}"
            names[start], names[count] = f"{limit.name}#start", f"{limit.name}#count"
            values[f":s{n}"] = self.starts[limit]
            if limit in current:
                values[f":l{n}"] = limit.limit
                adds.append(f"{count} :one")
                conditions.append(f"{start} = :s{n} AND {count} < :l{n}")
            else:
                sets += [f"{start} = :s{n}", f"{count} = :one"]
                conditions.append(f"(attribute_not_exists({start}) OR {start} < :s{n})")
        update = (
            f"SET {', '.join(sets)} ADD {', '.join(adds)}" if sets else f"ADD {', '.join(adds)}"
        )
        return {
            "Key": {"pk": serialize_value(self.key)},
            "UpdateExpression": update,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {name: serialize_value(v) for name, v in values.items()},
        }

    def explain(self, item: dict[str, Any] | None) -> dict[Limit, int | None]:
        """Why the write was refused, from the stored item: raise for a block or a reached
        limit; otherwise return the shorter windows' stored starts for the next write."""
        if item is None:  # no counter yet: every window starts now
            return {}
        if item.get(BLOCKED):
            raise BlockedError("this subject's requests are refused")
        for limit in self.shorter:
            stored = item.get(f"{limit.name}#start")
            if stored is not None and int(stored) > self.starts[limit]:
                # Another instance's clock is ahead: count in its window rather than fight it.
                self.starts[limit] = int(stored)
            current = stored is not None and int(stored) == self.starts[limit]
            if current and int(item.get(f"{limit.name}#count", 0)) >= limit.limit:
                self._refuse(limit, self.starts[limit])
        if int(item.get("count", 0)) >= self.longest.limit:
            self._refuse(self.longest, self.start)
        return {limit: _int_or_none(item.get(f"{limit.name}#start")) for limit in self.shorter}

    def usages(self, item: dict[str, Any]) -> dict[Limit, Usage]:
        usages = {
            # A window started afresh was set to 1, which some implementations leave out of
            # UPDATED_NEW when it was 1 before; an incremented one always changed.
            limit: _usage(limit, int(item.get(f"{limit.name}#count", 1)), self.starts[limit])
            for limit in self.shorter
        }
        usages[self.longest] = _usage(self.longest, int(item["count"]), self.start)
        return usages

    def _refuse(self, limit: Limit, start: int) -> None:
        reset = start + limit.window_s
        usage = Usage(limit=limit.limit, remaining=0, reset_epoch_s=reset)
        raise LimitExceededError(limit, usage, max(1, math.ceil(reset - self.now)))


def _usage(limit: Limit, count: int, start: int) -> Usage:
    return Usage(
        limit=limit.limit,
        remaining=max(0, limit.limit - count),
        reset_epoch_s=start + limit.window_s,
    )


def _start(now: float, limit: Limit) -> int:
    return int(now // limit.window_s) * limit.window_s


def _counter_key(subject: str, limit: Limit, start: int) -> str:
    return f"{subject}#{limit.name}#{start}"


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _window(limit: Limit) -> int:
    return limit.window_s


def _window_text(window_s: int) -> str:
    for length, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
        if window_s % length == 0:
            count = window_s // length
            return unit if count == 1 else f"{count} {unit}s"
    return f"{window_s} s"  # unreachable: every window is a whole number of seconds
