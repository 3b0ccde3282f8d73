"""Batches: many agent tasks in one call, fanned out via SQS to worker Lambdas.

`POST /batch` stores a manifest and sends one fan-out message (horizon.batches.service); the
fan-out creates the task records and messages (fanout); workers run each task once (worker,
runner); the task queue's DLQ consumer ends the tasks workers gave up on (failures).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Name → its module, imported on first use: the API needs the service and models only, and
# importing the worker would load the agent's runner and isolation at every API start.
_EXPORTS = {
    "BatchService": "service",
    "BatchStatus": "models",
    "BatchStore": "store",
    "BatchTaskFailures": "failures",
    "BatchWorker": "worker",
    "Delivery": "worker",
    "FanOut": "fanout",
    "FanOutOutcome": "fanout",
    "Settled": "failures",
    "TaskDelivery": "worker",
    "TaskStatus": "models",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
