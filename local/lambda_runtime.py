"""A small Lambda runtime: load the wiring's handlers, give each invocation a Lambda-like context.

Handlers are sync `handler(event, context) -> dict`. The gateway runs them in worker threads so
the event loop keeps serving (a handler calling the local `@connections` API must not deadlock);
the pollers call them from their own threads.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from horizon import wiring

log = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The parts of Lambda's context object handlers use, counting down from the function timeout.

    Args:
        function_name: the function's name (the wiring key locally).
        timeout_s: the function's timeout; `get_remaining_time_in_millis` counts down from it.
        memory_mb: reported as `memory_limit_in_mb`.
        region: used in `invoked_function_arn`.
    """

    def __init__(
        self,
        function_name: str,
        timeout_s: float,
        memory_mb: int = 128,
        region: str = "us-east-1",
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id[:8]}"
        self.timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the function's timeout (never negative)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _MissingHandler:
    """Stands in for a handler whose module failed to import: every call raises the cause."""

    def __init__(self, handler: str, error: BaseException) -> None:
        self.handler = handler
        self.error = error

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError(f"handler {self.handler} could not be loaded: {self.error!r}")


def load_handler(spec: wiring.FunctionSpec) -> Handler:
    """Import a function's handler as Lambda would.

    Args:
        spec: the function's wiring.

    Returns:
        The callable; if the import fails, a stand-in that raises on every call (so the rest
        of the stack still comes up), after logging the failure.
    """
    try:
        module = importlib.import_module(spec.module)
        return getattr(module, spec.attribute)
    except Exception as error:  # any import-time failure of someone's handler
        log.exception("cannot load handler %s", spec.handler)
        return _MissingHandler(spec.handler, error)


def load_handlers() -> dict[str, Handler]:
    """Return function key → handler for every function of the wiring."""
    return {spec.key: load_handler(spec) for spec in wiring.FUNCTIONS}


class Runtime:
    """Invokes the functions of the wiring by key, each with a fresh context.

    Args:
        handlers: function key → callable (the real handlers, or fakes in tests).
        region: the region reported in the contexts.
    """

    def __init__(self, handlers: Mapping[str, Handler], region: str = "us-east-1") -> None:
        self.handlers = dict(handlers)
        self.region = region

    def context(self, key: str) -> LambdaContext:
        """Return a new context for one invocation of function `key`."""
        spec = _spec(key)
        timeout = spec.timeout_s if spec else 30
        memory = spec.memory_mb if spec else 128
        return LambdaContext(key, timeout, memory, self.region)

    def invoke(self, key: str, event: dict[str, Any]) -> Any:
        """Call function `key` synchronously with `event`.

        Raises:
            KeyError: no handler is registered under `key`.
            Exception: whatever the handler raises.
        """
        handler = self.handlers[key]
        _ensure_event_loop()
        context = self.context(key)
        started = time.monotonic()
        try:
            return handler(event, context)
        finally:
            elapsed = time.monotonic() - started
            if elapsed > context.timeout_s:
                # Lambda would have killed it; a thread cannot be killed, so say so loudly.
                log.warning("%s ran %.1f s, over its %s s timeout", key, elapsed, context.timeout_s)


_thread_state = threading.local()


def _ensure_event_loop() -> None:
    """Give the calling worker thread an event loop of its own, as Lambda's main thread has.

    Mangum (the REST handler's adapter) calls `asyncio.get_event_loop()`, which only the main
    thread answers without one being set.
    """
    if getattr(_thread_state, "loop", None) is None:
        _thread_state.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_thread_state.loop)


def _spec(key: str) -> wiring.FunctionSpec | None:
    return next((spec for spec in wiring.FUNCTIONS if spec.key == key), None)
