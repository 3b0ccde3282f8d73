"""Batches: many agent tasks in one call, fanned out via SQS to worker Lambdas.

`POST /batch` stores a manifest and sends one fan-out message (horizon.batches.service); the
fan-out creates the task records and messages (fanout); workers run each task once (worker,
runner); the task queue's DLQ consumer ends the tasks workers gave up on (failures).
"""

from horizon.batches.failures import BatchTaskFailures, Settled
from horizon.batches.fanout import FanOut, FanOutOutcome
from horizon.batches.models import BatchStatus, TaskStatus
from horizon.batches.service import BatchService
from horizon.batches.store import BatchStore
from horizon.batches.worker import BatchWorker, Delivery, TaskDelivery

__all__ = [
    "BatchService",
    "BatchStatus",
    "BatchStore",
    "BatchTaskFailures",
    "BatchWorker",
    "Delivery",
    "FanOut",
    "FanOutOutcome",
    "Settled",
    "TaskDelivery",
    "TaskStatus",
]
