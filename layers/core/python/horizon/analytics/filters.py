"""Filters of a query: conditions on fields, a time range on `timestamp`, and matching.

A filter is a JSON object: `{"api_id": "api-123"}` (equality), `{"response_time_ms": {"gt": 100}}`
(operators `gt`, `gte`, `lt`, `lte`, `ne`, `in`, `eq`, ANDed), and `{"timestamp": {"from": ..,
"to": ..}}` (ISO 8601, no zone means UTC; `from` inclusive, `to` exclusive).

Semantics, identical in both executors:
- A condition only matches entries that have the field: a missing field matches nothing, not
  even `ne` (so any condition on `version_id` selects only entries that carry one).
- Values compare only within their kind: strings with strings, numbers with numbers (a bool is
  not a number), bools with bools; `200` never equals `"200"`.
- Field names: the known LogEntry fields, `attributes.<name>`, or any other bare name, which
  means the attribute of that name (unknown keys are stored under `attributes`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from horizon.ingest.validator import parse_timestamp

STRING_FIELDS = frozenset(
    ("level", "message", "service", "api_id", "endpoint", "event_type", "version_id")
)
NUMERIC_FIELDS = frozenset(("http_status", "response_time_ms", "error_code"))
KNOWN_FIELDS = STRING_FIELDS | NUMERIC_FIELDS
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in")
_RANGE_OPS = ("gt", "gte", "lt", "lte")
MISSING: Any = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Condition:
    """One operator on one field, e.g. ("gt", 100)."""

    op: str
    value: Any

    def test(self, found: Any) -> bool:
        """Return whether a field value (or MISSING) satisfies this condition."""
        if found is MISSING or found is None:
            return False
        op = self.op
        if op == "in":
            return any(_equal(found, item) for item in self.value)
        if op == "eq":
            return _equal(found, self.value)
        if op == "ne":
            return not _equal(found, self.value)
        if _kind(found) != _kind(self.value) or _kind(found) == "bool":
            return False
        if op == "gt":
            return found > self.value
        if op == "gte":
            return found >= self.value
        if op == "lt":
            return found < self.value
        return found <= self.value


@dataclass(frozen=True)
class Filter:
    """A compiled filter.

    Attributes:
        conditions: per field name, the conditions that must all hold.
        from_ms, to_ms: the time range in epoch ms (`from` inclusive, `to` exclusive), or None.
    """

    conditions: dict[str, tuple[Condition, ...]] = field(default_factory=dict)
    from_ms: int | None = None
    to_ms: int | None = None

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(self.conditions)

    def in_range(self, epoch_ms: int) -> bool:
        """Return whether an instant lies in the time range."""
        if self.from_ms is not None and epoch_ms < self.from_ms:
            return False
        return self.to_ms is None or epoch_ms < self.to_ms

    def test_field(self, name: str, value: Any) -> bool:
        """Return whether one field's value passes that field's conditions."""
        return all(condition.test(value) for condition in self.conditions.get(name, ()))

    def matches(self, entry: dict[str, Any]) -> bool:
        """Return whether a stored entry passes the whole filter."""
        if not self.in_range(entry["timestamp_ms"]):
            return False
        for name, conditions in self.conditions.items():
            found = field_value(entry, name)
            for condition in conditions:
                if not condition.test(found):
                    return False
        return True


def field_value(entry: dict[str, Any], name: str) -> Any:
    """Return a field of a stored entry, or MISSING."""
    if name in KNOWN_FIELDS:
        return entry.get(name, MISSING)
    attributes = entry.get("attributes") or {}
    if name.startswith("attributes."):
        name = name[len("attributes.") :]
    return attributes.get(name, MISSING)


def field_getter(name: str) -> Callable[[dict[str, Any]], Any]:
    """Return a function reading one field (or MISSING) of a stored entry."""
    if name in KNOWN_FIELDS:
        return lambda entry: entry.get(name, MISSING)
    return lambda entry: field_value(entry, name)


def check_field_name(name: Any) -> str:
    """Return a valid field name. Raises ValueError."""
    if not isinstance(name, str) or not name or name in ("attributes.", "attributes"):
        raise ValueError(f"invalid field name {name!r}")
    if name in ("timestamp_ms", "line"):
        raise ValueError(f"field {name!r} cannot be queried; filter on 'timestamp' instead")
    return name


def compile_filter(raw: Any) -> Filter:
    """Compile a filter object.

    Args:
        raw: the JSON filter (a dict), or None.

    Returns:
        The compiled filter.

    Raises:
        ValueError: with the reason the filter is invalid.
    """
    if raw is None:
        return Filter()
    if not isinstance(raw, dict):
        raise ValueError("filter must be an object of field: value or field: {operator: value}")
    conditions: dict[str, tuple[Condition, ...]] = {}
    from_ms = to_ms = None
    for name, spec in raw.items():
        if name == "timestamp":
            from_ms, to_ms = _time_range(spec)
            continue
        name = check_field_name(name)
        conditions[name] = _conditions(name, spec)
    return Filter(conditions, from_ms, to_ms)


def _conditions(name: str, spec: Any) -> tuple[Condition, ...]:
    if not isinstance(spec, dict):
        return (Condition("eq", _scalar(name, spec)),)
    if not spec:
        raise ValueError(f"filter on {name!r} has no operator; use one of {', '.join(OPERATORS)}")
    found: list[Condition] = []
    for op, value in spec.items():
        if op not in OPERATORS:
            raise ValueError(
                f"unknown operator {op!r} on {name!r}; use one of {', '.join(OPERATORS)}"
            )
        if op == "in":
            if not isinstance(value, list) or not value:
                raise ValueError(f"'in' on {name!r} needs a non-empty list of values")
            found.append(Condition("in", tuple(_scalar(name, item) for item in value)))
            continue
        value = _scalar(name, value)
        if op in _RANGE_OPS and _kind(value) == "bool":
            raise ValueError(f"{op!r} on {name!r} needs a number or a string, not a boolean")
        found.append(Condition(op, value))
    return tuple(found)


def _scalar(name: str, value: Any) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"filter value of {name!r} must be finite")
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"filter value of {name!r} must be a string, number or boolean")


def _time_range(spec: Any) -> tuple[int | None, int | None]:
    if not isinstance(spec, dict) or not spec:
        raise ValueError('filter on timestamp must be {"from": ISO 8601, "to": ISO 8601}')
    aliases = {"from": "from", "gte": "from", "to": "to", "lt": "to"}
    bounds: dict[str, int] = {}
    for key, value in spec.items():
        if key not in aliases:
            raise ValueError(f"unknown timestamp bound {key!r}; use 'from' and 'to'")
        bounds[aliases[key]] = parse_instant_ms(value, f"timestamp {key}")
    from_ms, to_ms = bounds.get("from"), bounds.get("to")
    if from_ms is not None and to_ms is not None and to_ms < from_ms:
        raise ValueError("timestamp 'to' is before 'from'")
    return from_ms, to_ms


def parse_instant_ms(value: Any, what: str) -> int:
    """Return an ISO 8601 instant as epoch ms, rounded up to the next whole ms.

    Stored entries keep whole milliseconds (sub-ms digits dropped), so for a bound B an entry at
    m is at or after B exactly when m >= ceil(B): rounding up keeps both bounds exact.

    Raises:
        ValueError: not an ISO 8601 string with a date and a time.
    """
    parsed = parse_timestamp(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(f"{what} must be an ISO 8601 date and time, not {value!r}")
    micros = (parsed - _EPOCH) // _MICROSECOND
    return -(-micros // 1000)


def _kind(value: Any) -> str:
    if type(value) is bool:
        return "bool"
    if type(value) in (int, float):
        return "number"
    if type(value) is str:
        return "str"
    return "other"


def _equal(found: Any, target: Any) -> bool:
    return _kind(found) == _kind(target) and found == target
