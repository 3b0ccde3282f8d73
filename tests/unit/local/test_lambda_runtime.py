"""The local Lambda runtime: contexts, invocation, handler loading."""

import time

import pytest

from horizon import wiring
from local.lambda_runtime import LambdaContext, Runtime, load_handler


def test_context_counts_down_from_the_timeout():
    context = LambdaContext("api", timeout_s=2, memory_mb=512, region="eu-west-1")
    first = context.get_remaining_time_in_millis()
    assert 1500 < first <= 2000
    time.sleep(0.05)
    assert context.get_remaining_time_in_millis() < first
    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:api"
    assert context.memory_limit_in_mb == 512


def test_expired_context_reports_zero():
    context = LambdaContext("x", timeout_s=0.01)
    time.sleep(0.02)
    assert context.get_remaining_time_in_millis() == 0


def test_runtime_passes_event_and_a_context_from_the_wiring():
    seen = []

    def handler(event, context):
        seen.append((event, context))
        return {"ok": True}

    runtime = Runtime({"ingest": handler})
    assert runtime.invoke("ingest", {"Records": []}) == {"ok": True}
    event, context = seen[0]
    assert event == {"Records": []}
    assert context.function_name == "ingest"
    spec = wiring.function("ingest")
    assert (
        spec.timeout_s * 1000 - 1000
        < context.get_remaining_time_in_millis()
        <= spec.timeout_s * 1000
    )
    assert context.memory_limit_in_mb == spec.memory_mb


def test_each_invocation_gets_its_own_request_id():
    ids = []
    runtime = Runtime({"api": lambda event, context: ids.append(context.aws_request_id)})
    runtime.invoke("api", {})
    runtime.invoke("api", {})
    assert len(set(ids)) == 2


def test_handler_errors_propagate():
    def boom(event, context):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        Runtime({"api": boom}).invoke("api", {})


def test_a_handler_that_cannot_be_imported_fails_when_called_not_when_loaded():
    spec = wiring.FunctionSpec(
        key="ghost",
        handler="functions.does_not_exist.handler.handler",
        description="",
        timeout_s=1,
        memory_mb=128,
    )
    handler = load_handler(spec)
    with pytest.raises(RuntimeError, match="could not be loaded"):
        handler({}, None)


def test_load_handler_imports_the_named_callable():
    spec = wiring.FunctionSpec(
        key="json", handler="json.dumps", description="", timeout_s=1, memory_mb=128
    )
    import json

    assert load_handler(spec) is json.dumps


def test_handlers_in_worker_threads_find_an_event_loop():
    # Mangum calls asyncio.get_event_loop(); outside the main thread that needs a loop set.
    import asyncio
    import threading

    loops = []

    def handler(event, context):
        loop = asyncio.get_event_loop()
        loops.append(loop.run_until_complete(asyncio.sleep(0, result=loop)))

    runtime = Runtime({"api": handler})
    threads = [threading.Thread(target=runtime.invoke, args=("api", {})) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(loops) == 2 and loops[0] is not loops[1]
