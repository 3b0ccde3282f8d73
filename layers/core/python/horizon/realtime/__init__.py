"""Live progress over WebSocket: connections, subscriptions, the notifier and the publisher."""

from horizon.realtime.connections import Connection, ConnectionStore, job_topic
from horizon.realtime.notifier import Delivery, MessageTooLargeError, Notifier
from horizon.realtime.publisher import EmailJobProgressPublisher, JobProgressPublisher
from horizon.realtime.service import ConnectRequest, WebSocketService
from horizon.realtime.snapshots import RetryLaterError, SnapshotService

__all__ = [
    "ConnectRequest",
    "Connection",
    "ConnectionStore",
    "Delivery",
    "EmailJobProgressPublisher",
    "JobProgressPublisher",
    "MessageTooLargeError",
    "Notifier",
    "RetryLaterError",
    "SnapshotService",
    "WebSocketService",
    "job_topic",
]
