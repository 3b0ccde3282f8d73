"""The one rate limiter: fixed windows counted atomically in DynamoDB (moto)."""

from __future__ import annotations

import pytest

from horizon.errors import RateLimitedError
from horizon.ratelimit import Limit, LimitExceededError, RateLimiter, Usage
from horizon.settings import get_settings

MINUTE = Limit("send-email per minute", 3, 60)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_counts_down_then_refuses_with_retry_after(aws):
    clock = Clock(1_000_040.5)  # 20.5 s into the minute window starting at 60 × 16,667
    limiter = RateLimiter(clock=clock)
    remaining = [limiter.hit("alice", [MINUTE]).remaining for _ in range(3)]
    assert remaining == [2, 1, 0]
    with pytest.raises(LimitExceededError) as refused:
        limiter.hit("alice", [MINUTE])
    error = refused.value
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 40  # the window ends at 1,000,080: 39.5 s, rounded up
    assert "send-email per minute" in str(error)
    assert error.headers == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1000080",
    }
    assert error.usage == Usage(limit=3, remaining=0, reset_epoch_s=1_000_080)


def test_a_new_window_starts_afresh_and_counters_expire(aws):
    clock = Clock(120.0)
    limiter = RateLimiter(clock=clock)
    for _ in range(3):
        limiter.hit("alice", [MINUTE])
    with pytest.raises(LimitExceededError):
        limiter.hit("alice", [MINUTE])
    clock.now = 180.0
    assert limiter.hit("alice", [MINUTE]) == Usage(limit=3, remaining=2, reset_epoch_s=240)
    items = aws.dynamodb.scan(TableName=get_settings().limits_table)["Items"]
    assert {int(item["expires_at"]["N"]) for item in items} == {240, 300}


def test_subjects_are_counted_apart(aws):
    limiter = RateLimiter(clock=Clock(60.0))
    for _ in range(3):
        limiter.hit("alice", [MINUTE])
    assert limiter.hit("bob", [MINUTE]).remaining == 2


def test_the_most_constraining_usage_is_returned_and_a_burst_spares_the_day(aws):
    burst, day = Limit("burst", 2, 1), Limit("daily", 5, 86_400)
    clock = Clock(86_400 * 3 + 10.0)
    limiter = RateLimiter(clock=clock)
    assert limiter.hit("key", [day, burst]) == Usage(2, 1, 86_400 * 3 + 11)
    assert limiter.hit("key", [day, burst]).remaining == 0
    with pytest.raises(LimitExceededError) as refused:
        limiter.hit("key", [day, burst])
    assert refused.value.limit == burst
    assert refused.value.retry_after_s == 1
    clock.now += 1
    # The refused burst was not counted against the day: 2 of 5 used, 3 left, then 2.
    assert limiter.hit("key", [day, burst]) == Usage(2, 1, clock.now + 1)
    assert limiter.hit("key", [day]).remaining == 1


def test_instances_share_the_counts(aws):
    """Two Lambda instances (two limiters, two clients) count against the same windows: the
    condition on the stored count, not anything in memory, refuses the request over the limit.
    (Atomicity under real concurrency is DynamoDB's guarantee; in-process moto does not
    serialize requests, the local stack's plane does: local/moto_fixes.py.)"""
    import boto3

    limit = Limit("per minute", 4, 60)
    first = RateLimiter(clock=Clock(600.0))
    second = RateLimiter(
        client=boto3.client("dynamodb", region_name="us-east-1"), clock=Clock(601.0)
    )
    outcomes = []
    for limiter in (first, second, first, second, first, second):
        try:
            outcomes.append(limiter.hit("alice", [limit]).remaining)
        except LimitExceededError:
            outcomes.append("refused")
    assert outcomes == [3, 2, 1, 0, "refused", "refused"]


def test_limits_are_checked():
    with pytest.raises(ValueError):
        Limit("bad", 0, 60)
    with pytest.raises(ValueError):
        RateLimiter(table="t", client=object()).hit("alice", [])


class CountingClient:
    """The real (moto) client, counting the calls made through it."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, []

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(**kwargs):
            self.calls.append(name)
            return method(**kwargs)

        return call


def test_a_request_is_one_conditional_write_in_every_window_at_once(aws):
    burst, day = Limit("burst", 3, 1), Limit("daily", 100, 86_400)
    clock = Clock(86_400 * 5 + 0.25)
    client = CountingClient(aws.dynamodb)
    limiter = RateLimiter(client=client, clock=clock)
    for _ in range(3):
        limiter.hit_all("key", [burst, day])
    assert client.calls == ["update_item"] * 3  # the first opens both windows, then 1 each
    clock.now += 1  # a new second: the stored burst window is old, found on a refused write
    usages = limiter.hit_all("key", [burst, day])
    assert usages[burst] == Usage(3, 2, 86_400 * 5 + 2)
    assert usages[day] == Usage(100, 96, 86_400 * 6)
    assert client.calls.count("update_item") <= 5
    [item] = aws.dynamodb.scan(TableName=get_settings().limits_table)["Items"]
    assert item["count"]["N"] == "4" and item["burst#count"]["N"] == "1"


def test_an_instance_whose_clock_is_behind_counts_in_the_newer_window(aws):
    burst = Limit("burst", 2, 1)
    day = Limit("daily", 100, 86_400)
    RateLimiter(clock=Clock(1_000.9)).hit_all("key", [burst, day])
    behind = RateLimiter(clock=Clock(999.95))  # still in second 999 on its clock
    assert behind.hit_all("key", [burst, day])[burst].remaining == 0
    with pytest.raises(LimitExceededError):
        behind.hit_all("key", [burst, day])


def test_a_blocked_subject_is_refused_and_a_new_window_is_confirmed_first(aws):
    from horizon.ratelimit import BlockedError

    day = Limit("daily", 100, 86_400)
    clock = Clock(86_400 * 10 + 5.0)
    limiter = RateLimiter(clock=clock)
    opened = []
    limiter.hit_all("key", [day], on_new_window=lambda: opened.append(clock.now))
    limiter.hit_all("key", [day], on_new_window=lambda: opened.append(clock.now))
    assert opened == [86_400 * 10 + 5.0]  # only the request that opened the day
    limiter.block("key", [day])
    with pytest.raises(BlockedError):
        limiter.hit_all("key", [day])
    clock.now += 86_400  # the next day was blocked ahead too
    with pytest.raises(BlockedError):
        limiter.hit_all("key", [day])
    clock.now += 86_400  # a day past the block: opening it asks the caller first

    def refuse() -> None:
        raise PermissionError("revoked")

    with pytest.raises(PermissionError):
        limiter.hit_all("key", [day], on_new_window=refuse)
