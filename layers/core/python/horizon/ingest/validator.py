"""The fast parse-and-validate core: one raw line in, a normalized entry or a reason out.

Rules (the LogEntry contract, see ARCHITECTURE.md and `horizon.ingest.models.LogEntry`):

- The line must be UTF-8 JSON (orjson: strict, so NaN/Infinity are rejected) holding an object.
- `timestamp` is required: an ISO 8601 string with a date and a time of day (date-only strings
  such as "2024-05-01" are invalid: a log line needs a time). Any fraction of a second and any
  offset are accepted ("Z", "+02:00", "+0200"); no zone means UTC.
- Known fields and their types: `level`, `message`, `service`, `api_id`, `endpoint`,
  `event_type`, `version_id` are strings; `http_status` an int in 100–599; `response_time_ms` a
  number ≥ 0; `error_code` an int. A bool is neither an int nor a number, and a number written
  as a string ("200") is not a number. A known field set to null counts as absent.
- Every other key is kept, unchanged, under `attributes`.

A valid line becomes this entry (the stored shape):

    {"timestamp": "2024-05-01T10:00:00.123Z",  # UTC, milliseconds, "Z" (sub-ms digits dropped)
     "timestamp_ms": 1714557600123,            # the same instant in Unix epoch milliseconds
     "level": ..., ...,                        # known fields that were present
     "attributes": {...}}                      # other keys, only when there are any

Where the C fast path is built (`horizon.speedups`), `validate_line` is a C callable that
decides the ordinary lines (known fields of the right types, a common timestamp shape, flat
attributes) with exactly this module's result and hands every other line to
`validate_line_python`, the reference for these rules.

DynamoDB cannot store everything JSON can, so a line is also invalid when an attribute nests
deeper than 30 levels, has an empty key, or a number DynamoDB cannot hold (beyond ±1e125 or
closer to zero than 1e-130); the reason says so instead of failing the whole job at write time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import filterfalse
from typing import Any

import orjson

from horizon.ingest.types import Entry
from horizon.speedups import speedups

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # for zone-less timestamps, which mean UTC
# Module-level names are looked up faster than attributes, once per line.
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_fromisoformat = datetime.fromisoformat
# Caches (bounded; plain dict operations are atomic, so threads may share them):
# minute since the epoch → "YYYY-MM-DDThh:mm:"; and, per timestamp shape (with or without
# milliseconds: two dicts, so one shape's key can never be read as the other's), the text up to
# the seconds plus the zone → (UTC text up to the seconds, epoch ms of that minute, whether the
# text is already the normalized one: a UTC "…:ss.mmmZ" is stored as it came).
_MINUTES: dict[int, str] = {}
_MINUTES_KEPT = 4096
_SHAPES_MS: dict[str, tuple[str, int, bool]] = {}
_SHAPES_S: dict[str, tuple[str, int, bool]] = {}
_SHAPES_KEPT = 8192
# Two-digit seconds and ".mmm" fractions to their milliseconds: a lookup both checks and
# converts them (the fraction's dot also tells the two shapes apart). Small on purpose: one
# 60,000-entry table of "ss.mmm" costs more in cache misses than it saves.
_SECONDS = {f"{second:02d}": second * 1000 for second in range(60)}
_MILLIS = {f".{milli:03d}": milli for milli in range(1000)}
_MILLISECOND = timedelta(milliseconds=1)

_STRING_KEYS = ("level", "message", "service", "api_id", "endpoint", "event_type", "version_id")
_KNOWN_KEYS = frozenset(
    (*_STRING_KEYS, "timestamp", "http_status", "response_time_ms", "error_code")
)
_only_known_keys = _KNOWN_KEYS.issuperset
_is_known_key = _KNOWN_KEYS.__contains__
# Attribute values that can never be unstorable (no nesting, no float): checked in one C call.
_only_scalars = frozenset((str, int, bool, type(None))).issuperset

# DynamoDB: 32 levels of nesting in an item; the entry map and its `attributes` take two.
MAX_ATTRIBUTE_DEPTH = 30
# DynamoDB numbers: magnitude in [1e-130, 9.99..e125], or zero.
_DYNAMO_MAX = 9.9999999999999e125
_DYNAMO_MIN = 1e-130

Result = tuple[Entry, None] | tuple[None, str]


def validate_line_python(raw: bytes) -> Result:
    """Parse and validate one line (without its line break), in Python: the rules' reference.

    `validate_line` is this function, or, where the C fast path is built, a C callable that
    decides ordinary lines itself with the same result and hands every other line to this one
    (or, once parsed, to `validate_data`).

    Args:
        raw: the line's bytes; blank lines are the caller's to skip.

    Returns:
        `(entry, None)` for a valid line, `(None, reason)` for an invalid one.
    """
    try:
        data = _loads(raw)
    except _JSONDecodeError as error:
        return _not_json(error)
    return validate_data(data)


def validate_data(data: Any) -> Result:
    """Validate a parsed line (orjson's result); the dict itself becomes the entry.

    Written for speed (it runs once per line of every upload where the C fast path is not
    built; `bench/validation.py` measures it): one combined type check lets ordinary lines
    through, the common timestamp shapes are read from a per-minute cache, and ordinary
    attributes are cleared in one C call. Anything unusual goes to `_explain`, which applies the
    same rules one by one and names the first one broken. Every Python operation counts here
    (each costs a sizeable share of orjson's parse): measure with the benchmark before adding
    one.
    """
    if type(data) is not dict:
        return None, f"not a JSON object (found {_json_type(data)})"
    timestamp = data.get("timestamp")
    status = data.get("http_status", 200)
    elapsed = data.get("response_time_ms", 0)
    if (
        type(timestamp) is not str
        or type(status) is not int
        or not 100 <= status <= 599
        # A float must be storable (zero, or a magnitude DynamoDB holds); negatives fail both.
        or (type(elapsed) is float and not (_DYNAMO_MIN <= elapsed <= _DYNAMO_MAX or elapsed == 0))
        or (type(elapsed) is not float and (type(elapsed) is not int or elapsed < 0))
        or type(data.get("error_code", 0)) is not int
        or type(data.get("level", "")) is not str
        or type(data.get("message", "")) is not str
        or type(data.get("service", "")) is not str
        or type(data.get("endpoint", "")) is not str
        or type(data.get("api_id", "")) is not str
        or type(data.get("event_type", "")) is not str
        or type(data.get("version_id", "")) is not str
    ):
        return _explain(data)  # includes valid lines with null known fields
    # Other keys move to `attributes` first, so that an input key such as "timestamp_ms" can
    # never be confused with the one added below; most lines have none (one C-level test).
    attributes: dict[str, Any] | None = None
    if not _only_known_keys(data):
        attributes = {}
        pop = data.pop
        for key in _unknown_keys(data):  # in input order: the first bad one is named
            attributes[key] = pop(key)
    # Lines of one file share their minute and their zone: look those up, copy the seconds
    # (an offset is whole minutes here, so they are the same in UTC). See `_learn`.
    seconds = _SECONDS.get(timestamp[17:19])  # also rejects anything but "00"…"59"
    millis = _MILLIS.get(timestamp[19:23])
    if millis is not None:
        known = _SHAPES_MS.get(timestamp[:17] + timestamp[23:])
        cached = known is not None and seconds is not None
        if cached:
            if not known[2]:
                data["timestamp"] = f"{known[0]}{timestamp[17:23]}Z"
            data["timestamp_ms"] = known[1] + seconds + millis
    else:
        known = _SHAPES_S.get(timestamp[:17] + timestamp[19:])
        cached = known is not None and seconds is not None
        if cached:
            data["timestamp"] = f"{known[0]}{timestamp[17:19]}.000Z"
            data["timestamp_ms"] = known[1] + seconds
    if not cached:
        normalized = _timestamp(timestamp)
        if type(normalized) is str:
            return None, normalized
        data["timestamp"], data["timestamp_ms"] = normalized
        _learn(timestamp, normalized)
    if attributes is not None:
        if "" in attributes:
            return None, "attributes cannot be stored: empty key"
        if not _only_scalars(map(type, attributes.values())):
            problem = _unstorable_values(attributes)
            if problem:
                return None, f"attributes cannot be stored: {problem}"
        data["attributes"] = attributes
    return data, None


validate_line: Callable[[bytes], Result] = (
    validate_line_python
    if speedups is None
    else speedups.line_validator(_loads, validate_data, validate_line_python)
)
"""Parse and validate one line (without its line break): `(entry, None)` or `(None, reason)`."""


def _unknown_keys(data: dict[str, Any]) -> list[str]:
    """The keys that are not the contract's fields, in input order (one C-level pass)."""
    return [*filterfalse(_is_known_key, data)]


def _not_json(error: ValueError) -> tuple[None, str]:
    """The reason for a line orjson could not parse."""
    message = str(error)
    if "UTF-8" in message:
        return None, "line is not valid UTF-8"
    return None, f"not valid JSON: {message}"


def _unstorable_values(attributes: dict[str, Any]) -> str | None:
    """Return why DynamoDB could not store one of the attribute values, or None."""
    for value in attributes.values():
        value_type = type(value)
        if value_type is dict:
            # The common nested object: plain keys and scalar values, nothing to look into.
            if "" not in value and _only_scalars(map(type, value.values())):
                continue
        elif value_type is not list and value_type is not float:
            continue
        problem = _unstorable(value, 2)
        if problem:
            return problem
    return None


def _explain(data: dict[str, Any]) -> Result:
    """The complete check, with the exact reason: for lines the fast path did not accept."""
    extra = _unknown_keys(data)
    attributes = {key: data.pop(key) for key in extra} if extra else None
    if None in data.values():  # a known optional field set to null counts as absent
        for key in [key for key, value in data.items() if value is None]:
            del data[key]

    timestamp = data.get("timestamp")
    if timestamp is None:
        return None, "missing timestamp"
    if type(timestamp) is not str:
        return None, f"timestamp must be an ISO 8601 string, not {_json_type(timestamp)}"
    for key in _STRING_KEYS:
        value = data.get(key, "")
        if type(value) is not str:
            return None, f"{key} must be a string, not {_json_type(value)}"
    value = data.get("http_status", 200)
    if type(value) is not int:
        return None, f"http_status must be an integer, not {_json_type(value)}"
    if not 100 <= value <= 599:
        return None, f"http_status must be between 100 and 599, not {value}"
    value = data.get("response_time_ms", 0)
    value_type = type(value)
    if value_type is not float and value_type is not int:
        return None, f"response_time_ms must be a number, not {_json_type(value)}"
    if value < 0:
        return None, f"response_time_ms must not be negative, not {value}"
    if value_type is float and not _storable(value):
        return None, "response_time_ms is out of the range that can be stored"
    value = data.get("error_code", 0)
    if type(value) is not int:
        return None, f"error_code must be an integer, not {_json_type(value)}"

    normalized = _timestamp(timestamp)
    if type(normalized) is str:
        return None, normalized
    data["timestamp"], data["timestamp_ms"] = normalized
    if attributes is not None:
        problem = _unstorable(attributes, 1)
        if problem:
            return None, f"attributes cannot be stored: {problem}"
        data["attributes"] = attributes
    return data, None


def parse_timestamp(value: str) -> datetime | None:
    """Return the instant `value` names, in UTC, or None when it is not a valid timestamp."""
    if not _has_time(value) or not _offset_in_range(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _timestamp(value: str) -> tuple[str, int] | str:
    """Return (UTC ISO string with ms, epoch ms), or the reason the value is not a timestamp."""
    if not _has_time(value):
        if len(value) == 10 or (len(value) == 8 and value.isdigit()):
            return f"timestamp must include a time of day: {value!r}"
        return f"timestamp is not ISO 8601: {_clip(value)!r}"
    if not _offset_in_range(value):
        return f"timestamp is not ISO 8601: {_clip(value)!r}"
    try:
        parsed = _fromisoformat(value)
        # Subtracting an aware epoch honours any offset: no astimezone needed.
        epoch = _NAIVE_EPOCH if parsed.tzinfo is None else _EPOCH  # no zone means UTC
        epoch_ms = (parsed - epoch) // _MILLISECOND
        minute, millis = divmod(epoch_ms, 60_000)
        prefix = _MINUTES.get(minute) or _minute_prefix(minute)
    except (ValueError, OverflowError):
        return f"timestamp is not ISO 8601: {_clip(value)!r}"
    return f"{prefix}{millis // 1000:02d}.{millis % 1000:03d}Z", epoch_ms


def _learn(value: str, normalized: tuple[str, int]) -> None:
    """Remember the minute and zone of a valid timestamp of a common shape.

    Shapes: `YYYY-MM-DDThh:mm:ss[.mmm][zone]`, the zone empty, "Z" or "±hh:mm". The key is the
    text up to the seconds plus the zone, in the dict of its shape (with or without
    milliseconds); the value is the UTC text up to the seconds, the epoch milliseconds of
    that minute, and whether such a timestamp is already in the normalized form.
    """
    if len(value) < 19 or value[10] != "T" or value[13] != ":" or value[16] != ":":
        return
    if value[19:20] == ".":
        millis = _MILLIS.get(value[19:23])
        if millis is None:
            return
        shapes, zone = _SHAPES_MS, value[23:]
    else:
        shapes, zone, millis = _SHAPES_S, value[19:], 0
    if zone not in ("", "Z") and not (len(zone) == 6 and zone[0] in "+-" and zone[3] == ":"):
        return
    text, epoch_ms = normalized
    if len(shapes) >= _SHAPES_KEPT:
        shapes.clear()
    as_is = shapes is _SHAPES_MS and zone == "Z" and text[:17] == value[:17]
    shapes[value[:17] + zone] = (text[:17], epoch_ms - int(value[17:19]) * 1000 - millis, as_is)


def _minute_prefix(minute: int) -> str:
    """Return "YYYY-MM-DDThh:mm:" of a minute since the epoch (UTC), remembering it.

    Formatting through datetime costs more than parsing; log lines cluster in time, so most
    lines reuse a cached minute. Raises OverflowError outside years 1–9999.
    """
    if len(_MINUTES) >= _MINUTES_KEPT:
        _MINUTES.clear()
    prefix = (_NAIVE_EPOCH + timedelta(minutes=minute)).isoformat(timespec="minutes") + ":"
    _MINUTES[minute] = prefix
    return prefix


def _has_time(value: str) -> bool:
    # Python 3.11's fromisoformat takes any separator and date-only strings; the contract wants
    # a date and a time: `YYYY-MM-DDThh...` (or a space), `YYYY-Www-DThh...`, or `YYYYMMDDThh...`.
    return value[10:11] in ("T", "t", " ") or (value[8:9] in ("T", "t") and value[:8].isdigit())


def _offset_in_range(value: str) -> bool:
    """Whether the zone offset, if any, names hours ≤ 23 and minutes and seconds ≤ 59.

    Python 3.11–3.13's fromisoformat also takes "+00:99" (as +01:39) and newer ones refuse it:
    the contract refuses it everywhere (and the C fast path with it).
    """
    time = value[11:] if value[10:11] in ("T", "t", " ") else value[9:]
    sign = max(time.rfind("+"), time.rfind("-"))
    if sign < 0:
        return True
    zone = time[sign + 1 :].replace(":", "")
    fields = [zone[:2], zone[2:4], zone[4:6]]
    limits = (23, 59, 59)
    return not any(
        field.isdecimal() and int(field) > limit
        for field, limit in zip(fields, limits, strict=True)
    )


def _storable(value: float) -> bool:
    magnitude = abs(value)
    return magnitude == 0 or _DYNAMO_MIN <= magnitude <= _DYNAMO_MAX


def _unstorable(value: Any, depth: int) -> str | None:
    """Return why DynamoDB could not store `value`, or None when it can."""
    value_type = type(value)
    if value_type is dict:
        if depth > MAX_ATTRIBUTE_DEPTH:
            return f"nested deeper than {MAX_ATTRIBUTE_DEPTH} levels"
        for key, item in value.items():
            if not key:
                return "empty key"
            if type(item) in (dict, list, float):
                problem = _unstorable(item, depth + 1)
                if problem:
                    return problem
    elif value_type is list:
        if depth > MAX_ATTRIBUTE_DEPTH:
            return f"nested deeper than {MAX_ATTRIBUTE_DEPTH} levels"
        for item in value:
            if type(item) in (dict, list, float):
                problem = _unstorable(item, depth + 1)
                if problem:
                    return problem
    elif value_type is float and not _storable(value):
        return f"number {value!r} is out of range"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) is str:
        return "a string"
    if type(value) in (int, float):
        return "a number"
    if type(value) is list:
        return "an array"
    return "an object"


def _clip(value: str, limit: int = 64) -> str:
    return value if len(value) <= limit else value[:limit] + "…"
