"""Business metrics (CloudWatch EMF through Powertools): count in services, flush in handlers.

from horizon import metrics
metrics.count(metrics.names.BATCH_TASKS_ENDED, status="completed")

@metrics.flushing
def handler(event, context): ...
"""

from horizon.metrics import names
from horizon.metrics.publisher import (
    MetricsPublisher,
    count,
    flush,
    flushing,
    publisher,
    reset_publisher,
)
from horizon.metrics.settings import get_metrics_settings, reset_metrics_settings

__all__ = [
    "MetricsPublisher",
    "count",
    "flush",
    "flushing",
    "get_metrics_settings",
    "names",
    "publisher",
    "reset_metrics_settings",
    "reset_publisher",
]
