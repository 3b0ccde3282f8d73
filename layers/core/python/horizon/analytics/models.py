"""The query request and answer models of the analytics API."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from horizon.analytics.filters import (
    NUMERIC_FIELDS,
    STRING_FIELDS,
    Filter,
    check_field_name,
    compile_filter,
)

METRICS = ("count", "sum", "avg", "min", "max", "p50", "p95", "p99")
MAX_JOBS = 20
MAX_TOP = 1000
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_DURATION_MS = 366 * 86_400_000


def parse_duration_ms(value: Any, what: str) -> int:
    """Return a duration such as "10m", "30s", "1h", "500ms" or "1d" in milliseconds.

    Raises:
        ValueError: not a positive duration with a unit.
    """
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"{what} must be a positive duration such as '10m', '30s', '1h', not {value!r}"
        )
    duration = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if duration <= 0 or duration > MAX_DURATION_MS:
        raise ValueError(f"{what} must be a positive duration of at most 366 days, not {value!r}")
    return duration


class WindowSpec(BaseModel):
    """Group matching events into windows of `size`: clock-aligned (tumbling) or sliding.

    The metric is computed per window and the windows with the highest value are returned.
    Sliding windows start at each matching entry's instant (for `count`, the fullest window
    of any start is one of them).
    """

    model_config = ConfigDict(extra="forbid")

    size: str = Field(description="a positive duration: '10m', '30s', '1h'")
    mode: Literal["tumbling", "sliding"] = "tumbling"

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_duration_ms(value, "window size")
        return value

    @property
    def size_ms(self) -> int:
        return parse_duration_ms(self.size, "window size")


class RelativeSpec(BaseModel):
    """Anchor events (e.g. deployments) in other jobs; count within `duration` after each."""

    model_config = ConfigDict(extra="forbid")

    job_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=MAX_JOBS, description="default: the query's jobs"
    )
    filter: dict[str, Any] | None = None
    duration: str

    _filter: Filter = PrivateAttr(default_factory=Filter)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_ms(value, "relative_to duration")
        return value

    @model_validator(mode="after")
    def _compile(self) -> RelativeSpec:
        self._filter = compile_filter(self.filter)
        return self

    @property
    def duration_ms(self) -> int:
        return parse_duration_ms(self.duration, "relative_to duration")

    @property
    def compiled(self) -> Filter:
        return self._filter


class QueryBody(BaseModel):
    """A question about the logs of one or more jobs."""

    model_config = ConfigDict(extra="forbid")

    job_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_JOBS)
    metric: str = Field(description=f"one of {', '.join(METRICS)}")
    field: str | None = Field(default=None, description="the numeric field (not for count)")
    filter: dict[str, Any] | None = None
    window: WindowSpec | None = None
    top: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOP,
        description="how many windows to return, highest metric value first",
    )
    relative_to: RelativeSpec | None = None

    _filter: Filter = PrivateAttr(default_factory=Filter)

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; use one of {', '.join(METRICS)}")
        return value

    @model_validator(mode="after")
    def _check(self) -> QueryBody:
        if self.field is not None:
            check_field_name(self.field)
        if self.metric != "count":
            if self.field is None:
                raise ValueError(f"metric {self.metric!r} needs a numeric 'field'")
            if self.field in STRING_FIELDS or self.field == "timestamp":
                numeric = ", ".join(sorted(NUMERIC_FIELDS))
                raise ValueError(
                    f"field {self.field!r} is not numeric; {self.metric} needs one of "
                    f"{numeric} or a numeric attribute"
                )
        if self.window and self.relative_to:
            raise ValueError("a query takes either a window or relative_to, not both")
        if self.top is not None and self.window is None:
            raise ValueError("'top' needs a 'window'")
        self._filter = compile_filter(self.filter)
        return self

    @property
    def compiled(self) -> Filter:
        return self._filter


class WindowPublic(BaseModel):
    start: str
    end: str = Field(description="exclusive")
    count: int = Field(description="how many matching entries (or values) the window holds")
    value: float | int = Field(description="the metric over them (for count, the count)")


class AnchorRow(BaseModel):
    anchor: dict[str, Any] = Field(description="the anchor event: job_id, line, timestamp, ...")
    start: str
    end: str = Field(description="exclusive")
    count: int = Field(description="how many matching entries (or values) fall in the window")
    value: float | int | None = Field(
        description="the metric over them (for count, the count); None when there are none"
    )


class QueryAnswer(BaseModel):
    """The answer: `value` and `n`, windows or anchor rows where asked, and how it was made."""

    metric: str
    field: str | None
    value: float | int | None = Field(description="None when no entry matched (except count)")
    n: int = Field(description="how many matching entries (or values) the answer covers")
    window: dict[str, Any] | None = None
    windows: list[WindowPublic] | None = None
    rows: list[AnchorRow] | None = None
    source: Literal["aggregates", "entries"]
    exact: bool = True
