"""The correlation id: bound per request or record, on every queue message, in every log line."""

from __future__ import annotations

import io
import json
import threading

from horizon import correlation
from horizon.observability import logger


def test_nothing_bound_sends_no_attribute_and_a_record_without_one_has_none():
    assert correlation.current() is None
    assert correlation.message_attributes() == {}
    assert correlation.of_record({"body": "{}", "messageAttributes": {}}) is None
    assert correlation.of_record({"body": "{}"}) is None


def test_a_bound_id_goes_on_messages_and_comes_back_off_a_lambda_record():
    with correlation.bound("trace-7"):
        attributes = correlation.message_attributes()
    assert attributes == {"correlation_id": {"DataType": "String", "StringValue": "trace-7"}}
    assert correlation.current() is None
    # An SQS record of a Lambda event spells the attribute in lower camel case.
    record = {
        "messageAttributes": {"correlation_id": {"stringValue": "trace-7", "dataType": "String"}}
    }
    assert correlation.of_record(record) == "trace-7"


def test_each_thread_has_its_own_id():
    seen: list[str | None] = []
    with correlation.bound("main-thread"):
        thread = threading.Thread(target=lambda: seen.append(correlation.current()))
        thread.start()
        thread.join()
        assert correlation.current() == "main-thread"
    assert seen == [None]


def test_a_log_line_written_while_an_id_is_bound_carries_it():
    handler = logger("horizon-test").registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        with correlation.bound("trace-9"):
            logger("horizon-test").info("inside")
        logger("horizon-test").info("outside")
    finally:
        handler.setStream(previous)
    inside, outside = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert inside["correlation_id"] == "trace-9"
    assert "correlation_id" not in outside


def test_a_message_is_stamped_with_the_bound_id_unless_it_has_its_own():
    assert correlation.stamped({"type": "pong"}) == {"type": "pong"}
    with correlation.bound("trace-3"):
        assert correlation.stamped({"type": "pong"}) == {
            "type": "pong",
            "correlation_id": "trace-3",
        }
        own = {"type": "exit", "correlation_id": "run-1"}
        assert correlation.stamped(own) == own
    # Frames keep room for MAX_CHARS; a longer id is left off rather than overflow one.
    with correlation.bound("x" * (correlation.MAX_CHARS + 1)):
        assert correlation.stamped({"type": "pong"}) == {"type": "pong"}
    with correlation.bound("x" * correlation.MAX_CHARS):
        longest = correlation.stamped({"type": "pong"})
    grown = len(json.dumps(longest, separators=(",", ":"))) - len('{"type":"pong"}')
    assert grown == correlation.STAMP_BYTES
