"""Fixtures of the agent unit tests: fresh agent settings, a recording notifier."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from horizon.agent.settings import reset_agent_settings
from horizon.realtime.notifier import Delivery, encode


@pytest.fixture(autouse=True)
def _fresh_agent_settings() -> Iterator[None]:
    reset_agent_settings()
    yield
    reset_agent_settings()


class RecordingNotifier:
    """Stands in for `@connections`: records what each connection received, as pushed.

    Args:
        gone: connection ids that answer 410.
    """

    def __init__(self, gone: set[str] | None = None) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.gone = gone or set()

    def send(self, connection_id: str, message: dict[str, Any]) -> Delivery:
        # As the real notifier encodes it: with the bound correlation id, within one frame.
        pushed = orjson.loads(encode(message))
        if connection_id in self.gone:
            return Delivery.GONE
        self.sent.setdefault(connection_id, []).append(pushed)
        return Delivery.SENT


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()
