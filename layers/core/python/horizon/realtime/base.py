"""What the WebSocket route service and the snapshot service both work with."""

from __future__ import annotations

from typing import Any

from horizon.jobs import JobStore
from horizon.lazy import Collaborator, aws_client
from horizon.realtime.connections import ConnectionStore
from horizon.realtime.notifier import Notifier


class RealtimeService:
    """Connections, jobs, the @connections poster and SQS: each passed in or made lazily.

    Args:
        connections, jobs, notifier, sqs: collaborators; each made lazily when omitted.
    """

    connections = Collaborator(ConnectionStore)
    jobs = Collaborator(JobStore)
    notifier = Collaborator(Notifier)
    sqs = aws_client("sqs")

    def __init__(
        self,
        connections: ConnectionStore | None = None,
        jobs: JobStore | None = None,
        notifier: Notifier | None = None,
        sqs: Any = None,
    ) -> None:
        self._connections = connections
        self._jobs = jobs
        self._notifier = notifier
        self._sqs = sqs
