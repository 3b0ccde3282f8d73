"""Pushing a job's progress to every connection subscribed to it."""

from __future__ import annotations

import logging
from typing import Any

from horizon.email_jobs.models import EmailJob
from horizon.errors import HorizonError
from horizon.jobs import Job
from horizon.lazy import Collaborator
from horizon.realtime import messages
from horizon.realtime.connections import ConnectionStore, job_topic
from horizon.realtime.notifier import Delivery, Notifier

logger = logging.getLogger(__name__)


class JobProgressPublisher:
    """Posts `progress` messages for a job (or any topic's messages) to its subscribers.

    Progress is a side channel: `publish` never raises, so a WebSocket problem can never fail
    or repeat the work it reports on.

    Args:
        connections: the connections store; made lazily when omitted.
        notifier: the `@connections` poster; made lazily when omitted.
    """

    connections = Collaborator(ConnectionStore)
    notifier = Collaborator(Notifier)

    def __init__(
        self, connections: ConnectionStore | None = None, notifier: Notifier | None = None
    ) -> None:
        self._connections = connections
        self._notifier = notifier

    def publish(self, job: Job) -> None:
        """Send the job's current state to each subscriber; drop gone connections."""
        self.publish_to(job_topic(job.owner, job.job_id), messages.progress(job))

    def publish_to(self, topic: str, message: dict[str, Any]) -> None:
        """Send `message` to each subscriber of `topic`; drop gone connections. Never raises."""
        try:
            subscribers = self.connections.topic_subscribers(topic)
        except HorizonError as error:
            logger.warning("could not publish to %s: %s", topic, error)
            return
        for connection_id in subscribers:
            try:
                if self.notifier.send(connection_id, message) is Delivery.GONE:
                    self.connections.drop_gone(connection_id)
            except HorizonError as error:
                logger.warning("progress to %s not delivered: %s", connection_id, error)


class EmailJobProgressPublisher:
    """Posts an email job's `progress` (`kind: "email"`) to its subscribers, like an ingest
    job's: the same subscriptions, the same never-raising side channel."""

    def __init__(self, publisher: JobProgressPublisher | None = None) -> None:
        self._publisher = publisher or JobProgressPublisher()

    def publish(self, job: EmailJob) -> None:
        self._publisher.publish_to(job_topic(job.owner, job.job_id), messages.email_progress(job))
