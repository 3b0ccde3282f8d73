"""The fast validator applies the LogEntry contract; the pydantic model agrees with it.

Every test runs twice: with `validate_line` as shipped (the C fast path where it is built) and
with the pure-Python validator alone.
"""

from __future__ import annotations

import sys

import orjson
import pytest
from pydantic import ValidationError

from horizon.ingest import LogEntry, validate_line
from horizon.ingest.validator import validate_line_python

TS = "2026-11-22T04:00:00Z"


@pytest.fixture(autouse=True, params=["shipped", "python"])
def implementation(request, monkeypatch):
    """Point this module's `validate_line` at one implementation for the test."""
    if request.param == "python":
        monkeypatch.setattr(sys.modules[__name__], "validate_line", validate_line_python)
    return request.param


def ok(obj: object) -> dict:
    entry, reason = validate_line(orjson.dumps(obj))
    assert reason is None, reason
    assert entry is not None
    return entry


def bad(raw: bytes | object) -> str:
    data = raw if isinstance(raw, bytes) else orjson.dumps(raw)
    entry, reason = validate_line(data)
    assert entry is None
    assert reason
    return reason


def model_accepts(obj: dict) -> bool:
    try:
        LogEntry.model_validate(obj)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("timestamp", "normalized"),
    [
        ("2026-11-22T04:00:00Z", "2026-11-22T04:00:00.000Z"),
        ("2026-11-22T04:00:00", "2026-11-22T04:00:00.000Z"),  # no zone means UTC
        ("2026-11-22T04:00:00.123Z", "2026-11-22T04:00:00.123Z"),
        ("2026-11-22T04:00:00.1Z", "2026-11-22T04:00:00.100Z"),
        ("2026-11-22T04:00:00.123456789Z", "2026-11-22T04:00:00.123Z"),
        ("2026-11-22T04:00:00.999+02:00", "2026-11-22T02:00:00.999Z"),
        ("2026-11-22T04:00:00-05:30", "2026-11-22T09:30:00.000Z"),
        ("2026-11-22T04:00:00+0200", "2026-11-22T02:00:00.000Z"),
        ("2026-11-22 04:00:00Z", "2026-11-22T04:00:00.000Z"),
        ("20261122T040000Z", "2026-11-22T04:00:00.000Z"),
        ("2026-11-22T04:00Z", "2026-11-22T04:00:00.000Z"),
        ("2026-11-22T00:30:00+01:00", "2026-11-21T23:30:00.000Z"),  # crosses midnight
        ("2026-11-22T04:00:00.12Z", "2026-11-22T04:00:00.120Z"),
        ("2026-11-22T04:00:00.12", "2026-11-22T04:00:00.120Z"),
        ("2026-11-22T04:00:00.123+00:00", "2026-11-22T04:00:00.123Z"),
        ("2026-11-22T04:00:00.123-00:30", "2026-11-22T04:30:00.123Z"),
        ("2026-11-22T04:00+02", "2026-11-22T02:00:00.000Z"),
        ("2026-11-22T04:00:00.1234Z", "2026-11-22T04:00:00.123Z"),
    ],
)
def test_timestamps_are_normalized_to_utc_milliseconds(timestamp: str, normalized: str) -> None:
    entry = ok({"timestamp": timestamp})
    assert entry["timestamp"] == normalized
    assert model_accepts({"timestamp": timestamp})


@pytest.mark.parametrize("seconds", [0, 1, 59.5, 86399.999, 1795320000.25])
def test_epoch_milliseconds_agree_with_the_string(seconds: float) -> None:
    from datetime import UTC, datetime

    for zone in ("Z", "+00:00", "", "+05:45"):
        moment = datetime.fromtimestamp(seconds, UTC)
        if zone == "+05:45":
            from datetime import timedelta, timezone

            moment = moment.astimezone(timezone(timedelta(hours=5, minutes=45)))
            text = moment.isoformat(timespec="milliseconds")
        else:
            text = moment.isoformat(timespec="milliseconds")[:-6] + zone
        entry = ok({"timestamp": text})
        assert entry["timestamp_ms"] == round(seconds * 1000)
        parsed = datetime.fromisoformat(entry["timestamp"])
        assert round(parsed.timestamp() * 1000) == entry["timestamp_ms"]


def test_epoch_milliseconds_match_the_normalized_timestamp() -> None:
    entry = ok({"timestamp": "1970-01-01T00:00:01.5+00:00"})
    assert entry["timestamp_ms"] == 1500
    entry = ok({"timestamp": "2026-11-22T06:00:00.250+02:00"})
    assert entry["timestamp_ms"] == 1795320000250  # 2026-11-22T04:00:00.250Z


@pytest.mark.parametrize(
    ("timestamp", "reason_part"),
    [
        ("2026-11-22", "time of day"),  # date-only: decided invalid, a log line needs a time
        ("20261122", "time of day"),
        ("yesterday", "not ISO 8601"),
        ("2026-13-01T00:00:00Z", "not ISO 8601"),
        ("2026-11-22T25:00:00Z", "not ISO 8601"),
        ("2026-11-22X04:00:00", "not ISO 8601"),  # 3.11 would take any separator
        ("", "not ISO 8601"),
        ("0001-01-01T00:00:00+01:00", "not ISO 8601"),  # overflows when moved to UTC
        # Offsets out of range (Python 3.11-3.13's fromisoformat alone takes these).
        ("2026-11-22T04:00:00+00:99", "not ISO 8601"),
        ("2026-11-22T04:00:00.123-09:61", "not ISO 8601"),
        ("2026-11-22T04:00:00+0260", "not ISO 8601"),
        ("2026-11-22T04:00:00+02:00:75", "not ISO 8601"),
        ("20261122T040000-0599", "not ISO 8601"),
        ("2026-11-22T04:00:00+²²:00", "not ISO 8601"),  # a digit int() refuses
    ],
)
def test_invalid_timestamps(timestamp: str, reason_part: str) -> None:
    assert reason_part in bad({"timestamp": timestamp})
    assert not model_accepts({"timestamp": timestamp})


@pytest.mark.parametrize("value", [1700000000, 1700000000.5, True, ["2026-11-22T04:00:00Z"], {}])
def test_timestamp_must_be_a_string(value: object) -> None:
    assert "timestamp must be an ISO 8601 string" in bad({"timestamp": value})
    assert not model_accepts({"timestamp": value})


@pytest.mark.parametrize("obj", [{}, {"message": "hi"}, {"timestamp": None}])
def test_timestamp_is_required(obj: dict) -> None:
    assert bad(obj) == "missing timestamp"
    assert not model_accepts(obj)


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        (b"not json", "not valid JSON"),
        (b'{"timestamp": "2026-11-22T04:00:00Z"', "not valid JSON"),
        (b'{"timestamp": "2026-11-22T04:00:00Z", "response_time_ms": NaN}', "not valid JSON"),
        (b'{"timestamp": "2026-11-22T04:00:00Z", "response_time_ms": Infinity}', "not valid JSON"),
        (b'{"timestamp": "2026-11-22T04:00:00Z", "response_time_ms": 1e999}', "not valid JSON"),
        (b'{"timestamp": "2026-11-22T04:00:00Z", "message": "caf\xe9"}', "not valid UTF-8"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[1, 2]", "not a JSON object (found an array)"),
        (b'"text"', "not a JSON object (found a string)"),
        (b"42", "not a JSON object (found a number)"),
        (b"null", "not a JSON object (found null)"),
    ],
)
def test_lines_that_are_not_json_objects(raw: bytes, reason_part: str) -> None:
    assert reason_part in bad(raw)


@pytest.mark.parametrize(
    ("field", "value", "reason_part"),
    [
        ("http_status", True, "http_status must be an integer, not a boolean"),
        ("http_status", "200", "http_status must be an integer, not a string"),
        ("http_status", 200.0, "http_status must be an integer, not a number"),
        ("http_status", 99, "between 100 and 599, not 99"),
        ("http_status", 600, "between 100 and 599, not 600"),
        ("response_time_ms", -0.5, "must not be negative"),
        ("response_time_ms", False, "must be a number, not a boolean"),
        ("response_time_ms", "12", "must be a number, not a string"),
        ("response_time_ms", 1e200, "out of the range"),
        ("error_code", True, "error_code must be an integer, not a boolean"),
        ("error_code", 1.5, "error_code must be an integer, not a number"),
        ("error_code", "E42", "error_code must be an integer, not a string"),
        ("level", 3, "level must be a string, not a number"),
        ("message", {"text": "x"}, "message must be a string, not an object"),
        ("service", ["a"], "service must be a string, not an array"),
        ("api_id", True, "api_id must be a string, not a boolean"),
        ("endpoint", 1, "endpoint must be a string"),
        ("event_type", 1, "event_type must be a string"),
        ("version_id", 2, "version_id must be a string"),
    ],
)
def test_known_fields_of_the_wrong_type(field: str, value: object, reason_part: str) -> None:
    obj = {"timestamp": TS, field: value}
    assert reason_part in bad(obj)
    assert not model_accepts(obj)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("http_status", 100),
        ("http_status", 599),
        ("response_time_ms", 0),
        ("response_time_ms", 12.75),
        ("response_time_ms", 3),
        ("error_code", -1),
        ("error_code", 0),
        ("level", ""),
        ("message", "héllo ✓"),
    ],
)
def test_known_fields_of_the_right_type(field: str, value: object) -> None:
    entry = ok({"timestamp": TS, field: value})
    assert entry[field] == value
    assert model_accepts({"timestamp": TS, field: value})


def test_a_full_line_keeps_known_fields_and_other_keys_as_attributes() -> None:
    entry = ok(
        {
            "timestamp": "2026-11-22T05:00:00.5+01:00",
            "level": "ERROR",
            "message": "boom",
            "service": "billing",
            "api_id": "a1",
            "endpoint": "/pay",
            "event_type": "request",
            "version_id": "v3",
            "http_status": 502,
            "response_time_ms": 120.5,
            "error_code": 17,
            "trace": {"id": "t-1", "spans": [1, 2, {"deep": True}]},
            "region": "eu-west-1",
            "retries": 0,
            "flag": False,
        }
    )
    assert entry == {
        "timestamp": "2026-11-22T04:00:00.500Z",
        "timestamp_ms": 1795320000500,
        "level": "ERROR",
        "message": "boom",
        "service": "billing",
        "api_id": "a1",
        "endpoint": "/pay",
        "event_type": "request",
        "version_id": "v3",
        "http_status": 502,
        "response_time_ms": 120.5,
        "error_code": 17,
        "attributes": {
            "trace": {"id": "t-1", "spans": [1, 2, {"deep": True}]},
            "region": "eu-west-1",
            "retries": 0,
            "flag": False,
        },
    }


def test_null_known_fields_count_as_absent() -> None:
    entry = ok({"timestamp": TS, "level": None, "http_status": None})
    assert "level" not in entry
    assert "http_status" not in entry


def test_no_attributes_key_without_other_keys() -> None:
    assert "attributes" not in ok({"timestamp": TS, "level": "INFO"})


@pytest.mark.parametrize(
    ("attributes", "reason_part"),
    [
        ({"": 1}, "empty key"),
        ({"a": {"": 1}}, "empty key"),
        ({"a": [1e-200]}, "out of range"),
        ({"a": 1e130}, "out of range"),
    ],
)
def test_attributes_dynamodb_cannot_store(attributes: dict, reason_part: str) -> None:
    assert reason_part in bad({"timestamp": TS, **attributes})


def test_attributes_nested_too_deep() -> None:
    deep: object = 1
    for _ in range(31):
        deep = {"d": deep}
    assert "nested deeper" in bad({"timestamp": TS, "x": deep})
    shallow: object = 1
    for _ in range(29):
        shallow = [shallow]
    assert ok({"timestamp": TS, "x": shallow})["attributes"]["x"] == shallow


def test_a_huge_valid_line_is_still_validated() -> None:
    big = "x" * 200_000
    entry = ok({"timestamp": TS, "message": big})
    assert entry["message"] == big


def test_whitespace_around_the_object_is_fine() -> None:
    entry, reason = validate_line(b'  {"timestamp": "2026-11-22T04:00:00Z"}\t')
    assert reason is None
    assert entry is not None


def test_cached_timestamp_shapes_agree_with_a_full_parse() -> None:
    """The minute-and-zone cache must give what a full parse gives, in any order of shapes."""
    import random
    from datetime import UTC, datetime, timedelta

    from horizon.ingest.validator import parse_timestamp

    rng = random.Random(3)
    fractions = ["", ".5", ".12", ".123", ".1234", ".123456"]
    zones = ["", "Z", "+00:00", "+02:00", "-05:30", "+14:00", "-00:45"]
    for _ in range(3000):
        minute = rng.choice(["2026-11-22T04:00", "2026-11-22T23:59", "2026-02-28T12:30"])
        text = f"{minute}:{rng.randrange(60):02d}{rng.choice(fractions)}{rng.choice(zones)}"
        entry = ok({"timestamp": text})
        expected = parse_timestamp(text)
        assert expected is not None
        assert entry["timestamp"] == expected.isoformat(timespec="milliseconds")[:-6] + "Z", text
        delta = expected - datetime(1970, 1, 1, tzinfo=UTC)
        assert entry["timestamp_ms"] == delta // timedelta(milliseconds=1), text
    for text in [
        "2026-11-22T04:00:6x.123Z",
        "2026-11-22T04:00:60.123Z",
        "2026-11-22T04:00:0١.123Z",
    ]:
        assert "not ISO 8601" in bad({"timestamp": text}), text


def reference(raw: bytes) -> tuple[dict | None, str | None]:
    """The complete, rule-by-rule path alone (no fast checks, no timestamp caches)."""
    from horizon.ingest import validator

    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return validator._not_json(error)
    if type(data) is not dict:
        return None, f"not a JSON object (found {validator._json_type(data)})"
    return validator._explain(data)


def test_the_fast_path_agrees_with_the_complete_path_on_generated_lines() -> None:
    """Same entry for every valid line, same reason for every invalid one (caches warm)."""
    from bench.data import lines

    checked = invalid = 0
    for raw in lines(20_000, seed=5):
        if not raw.strip():
            continue
        entry, reason = validate_line(raw)
        assert (entry, reason) == reference(raw), raw
        checked += 1
        invalid += entry is None
        # The independent pydantic model agrees on validity.
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            assert entry is None
            continue
        assert (entry is not None) == (isinstance(data, dict) and model_accepts(data)), raw
    assert checked > 19_000
    assert 1_000 < invalid < 4_000  # the generator's ~10% of broken lines were all seen


@pytest.mark.parametrize(
    "obj",
    [
        {"timestamp": TS, "level": None, "message": "m", "trace": {"a": 1}},
        {"timestamp": TS, "http_status": None, "response_time_ms": None, "x": None},
        {"timestamp": TS, "response_time_ms": 0.0},
        {"timestamp": TS, "response_time_ms": -0.0},
        {"timestamp": TS, "response_time_ms": 1e-131},
        {"timestamp": TS, "response_time_ms": 9.9999999999999e125},
        {"timestamp": TS, "response_time_ms": 1e126},
        {"timestamp": TS, "response_time_ms": -1},
        {"timestamp": TS, "response_time_ms": True},
        {"timestamp": TS, "http_status": 599.0},
        {"timestamp": TS, "error_code": None, "api_id": ""},
        {"timestamp": TS, "nested": {"a": {"b": [1.5, {"c": 2}]}}},
        {"timestamp": TS, "nested": {"a": 1, "b": "x", "c": None, "d": True}},
        {"timestamp": TS, "nested": {"a": 1e-200}},
        {"timestamp": TS, "nested": {"": "x"}},
        {"timestamp": TS, "list": [1, 2, [3, [1e300]]]},
        {"timestamp": TS, "f": 2.5, "s": "x", "n": None, "b": False},
        {"timestamp": TS, "f": 1e-140},
        {"timestamp": TS, "": 1},
        {"timestamp": "2026-11-22T04:00:00.5Z", "x": 1},
        {"timestamp": "2026-11-22T04:00:00.123", "level": "INFO"},
        {"timestamp": "2026-11-22T04:00:00.123+02:00", "timestamp_ms": 5},
        {"timestamp": "2026-11-22", "x": {"": 1}},
        {"timestamp": "2026-11-22T04:00:00.12Z"},
        {"timestamp": "2026-11-22T04:00:00.1234"},
        {"timestamp": "2026-11-22T04:00:0Z"},
        {"timestamp": "2026-11-22T04:00:00,123Z"},
        {"timestamp": "2026-11-22T04:00:00.12aZ"},
        {"timestamp": "2026-11-22T04:00"},
        {"timestamp": "2026-11-22T04"},
    ],
)
def test_the_fast_path_agrees_with_the_complete_path_on_unusual_lines(obj: dict) -> None:
    raw = orjson.dumps(obj)
    # Twice: the first call may teach the timestamp cache, the second reads from it.
    assert validate_line(raw) == reference(raw)
    assert validate_line(raw) == reference(raw)


def test_a_cached_zone_of_one_shape_is_not_read_as_the_other_shape() -> None:
    """ "…:00+02:00" (no milliseconds) must not make "…:01.123s+02:00" valid."""
    assert ok({"timestamp": "2026-11-22T04:00:00+02:00"})["timestamp_ms"] == 1795312800000
    assert ok({"timestamp": "2026-11-22T04:00:00.123+02:00"})["timestamp_ms"] == 1795312800123
    assert "not ISO 8601" in bad({"timestamp": "2026-11-22T04:00:01.123s+02:00"})
    assert not model_accepts({"timestamp": "2026-11-22T04:00:01.123s+02:00"})


@pytest.mark.parametrize("timestamp", ["2026-11-22T04:00:00Z", "2026-11-22T04:00:00.250Z"])
def test_an_input_key_named_timestamp_ms_stays_an_attribute(timestamp: str) -> None:
    for _ in range(2):  # uncached, then cached
        entry = ok({"timestamp": timestamp, "timestamp_ms": 5, "attributes": {"a": 1}})
        assert entry["timestamp_ms"] == 1795320000000 + (250 if "250" in timestamp else 0)
        assert entry["attributes"] == {"timestamp_ms": 5, "attributes": {"a": 1}}


def test_nested_scalar_objects_are_kept_and_unstorable_ones_rejected() -> None:
    entry = ok({"timestamp": TS, "request": {"ip": "10.0.0.1", "ok": True, "n": None, "c": 3}})
    assert entry["attributes"] == {"request": {"ip": "10.0.0.1", "ok": True, "n": None, "c": 3}}
    assert "empty key" in bad({"timestamp": TS, "request": {"ip": "x", "": "y"}})
    assert "out of range" in bad({"timestamp": TS, "request": {"ip": "x", "t": 1e-300}})
    assert "out of range" in bad({"timestamp": TS, "request": "x", "t": -1e200})
    assert ok({"timestamp": TS, "request": {"t": 0.5}})["attributes"] == {"request": {"t": 0.5}}
