"""Realistic AWS event samples kept as JSON files, with one loader shared by every test."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

_HERE = Path(__file__).parent


@cache
def _read(name: str) -> dict[str, Any]:
    return json.loads((_HERE / f"{name}.json").read_text())


def load_event(name: str) -> dict[str, Any]:
    """Return a fresh copy of the sample event `tests/events/<name>.json`."""
    return copy.deepcopy(_read(name))
