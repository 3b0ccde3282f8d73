"""File names and types of uploads."""

import pytest

from horizon.errors import InvalidRequestError, UnsupportedMediaError
from horizon.uploads import check_type, safe_name


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("app.jsonl", "app.jsonl"),
        ("../../etc/passwd.jsonl", "passwd.jsonl"),
        ("C:\\Users\\me\\logs.jsonl", "logs.jsonl"),
        ("bad\x00\x1f\x7fname.jsonl", "badname.jsonl"),
        ("café log.jsonl", "cafe_log.jsonl"),
        ("...hidden.jsonl", "hidden.jsonl"),
        ("a#b%c?d.jsonl", "a_b_c_d.jsonl"),
    ],
)
def test_safe_name(given, expected):
    assert safe_name(given) == expected


def test_long_names_keep_their_extension():
    name = safe_name("x" * 500 + ".jsonl")
    assert len(name) == 128
    assert name.endswith(".jsonl")


@pytest.mark.parametrize("given", ["", "../", "\x00\x01", "///"])
def test_nothing_usable_is_refused(given):
    with pytest.raises(InvalidRequestError):
        safe_name(given)


def test_check_type():
    check_type("a.jsonl", None)
    check_type("a.ndjson", "application/jsonl")
    with pytest.raises(UnsupportedMediaError):
        check_type("a.txt", "text/plain")
    with pytest.raises(UnsupportedMediaError):
        check_type("a.jsonl", "text/html")
