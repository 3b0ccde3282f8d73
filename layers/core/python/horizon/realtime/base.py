"""What the WebSocket route service and the snapshot service both work with."""

from __future__ import annotations

from typing import Any

from horizon.email_jobs.store import EmailJobStore
from horizon.errors import NotFoundError
from horizon.jobs import JobStore
from horizon.lazy import Collaborator, aws_client
from horizon.realtime import messages
from horizon.realtime.connections import ConnectionStore
from horizon.realtime.notifier import Notifier


class RealtimeService:
    """Connections, jobs, the @connections poster and SQS: each passed in or made lazily.

    Args:
        connections, jobs, notifier, sqs, email_jobs: collaborators; each made lazily when
            omitted.
    """

    connections = Collaborator(ConnectionStore)
    jobs = Collaborator(JobStore)
    email_jobs = Collaborator(EmailJobStore)
    notifier = Collaborator(Notifier)
    sqs = aws_client("sqs")

    def __init__(
        self,
        connections: ConnectionStore | None = None,
        jobs: JobStore | None = None,
        notifier: Notifier | None = None,
        sqs: Any = None,
        email_jobs: EmailJobStore | None = None,
    ) -> None:
        self._connections = connections
        self._jobs = jobs
        self._notifier = notifier
        self._sqs = sqs
        self._email_jobs = email_jobs

    def job_state(self, owner: str, job_id: str) -> dict[str, Any] | None:
        """The progress message of the owner's job `job_id`: an ingest job's, else an email
        job's (both are followed through the same job subscriptions); None when neither."""
        try:
            return messages.progress(self.jobs.get(owner, job_id))
        except NotFoundError:
            pass
        try:
            return messages.email_progress(self.email_jobs.get(owner, job_id))
        except NotFoundError:
            return None
