"""The WebSocket routes as one service: $connect, $disconnect, subscribe, ping, $default.

Agent task messages (`run`, `cancel`, a bare `{"task": ...}`, `subscribe` with a `task_id`)
are handed to `horizon.agent.service.TaskService`; `subscribe` with a `batch_id` to
`horizon.batches.subscriptions.BatchSubscriptions`.

`functions/websocket/handler.py` only translates API Gateway's events into these calls.
Replies are posted through `@connections` (route responses are not configured), and a
client's mistake is answered with an `error` message while the connection stays open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from horizon import correlation
from horizon.dynamo import AWS_ERRORS
from horizon.email_jobs.store import EmailJobStore
from horizon.errors import DependencyError
from horizon.jobs import JobStore
from horizon.realtime import messages
from horizon.realtime.base import RealtimeService
from horizon.realtime.connections import ConnectionStore
from horizon.realtime.notifier import Delivery, Notifier
from horizon.settings import get_settings
from horizon.tenancy import UnauthorizedError, bearer_token, resolve_caller

if TYPE_CHECKING:
    from horizon.agent.service import TaskService
    from horizon.batches.subscriptions import BatchSubscriptions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectRequest:
    """What `$connect` carries that matters here (header names are lower-cased)."""

    connection_id: str
    headers: dict[str, str]
    query: dict[str, str]


class WebSocketService(RealtimeService):
    """Handles the WebSocket routes.

    Args:
        connections, jobs, notifier, sqs: collaborators; each made lazily when omitted.

    $connect with `?job_id=` for a job that does not exist (or is another owner's) is accepted,
    without a subscription: the snapshot sent after the connection opens is then a
    `not_found` error message. Browsers cannot read a refused handshake's status, so an
    explicit message is the more useful answer.
    """

    def __init__(
        self,
        connections: ConnectionStore | None = None,
        jobs: JobStore | None = None,
        notifier: Notifier | None = None,
        sqs: Any = None,
        email_jobs: EmailJobStore | None = None,
    ) -> None:
        super().__init__(connections, jobs, notifier, sqs, email_jobs)
        self._tasks: TaskService | None = None
        self._batches: BatchSubscriptions | None = None

    @property
    def tasks(self) -> TaskService:
        if self._tasks is None:
            # Imported here: horizon.agent builds on this package.
            from horizon.agent.service import TaskService

            self._tasks = TaskService(self._reply, self.connections, self.notifier)
        return self._tasks

    @property
    def batches(self) -> BatchSubscriptions:
        if self._batches is None:
            # Imported here: horizon.batches builds on this package.
            from horizon.batches.subscriptions import BatchSubscriptions

            self._batches = BatchSubscriptions(self._reply, self.connections)
        return self._batches

    # -- routes ------------------------------------------------------------------------------

    def connect(self, request: ConnectRequest) -> int:
        """Accept or refuse a connection; returns the HTTP status for API Gateway.

        200 accepted, 401 missing/unknown credential (`X-API-Key`, `Authorization: Bearer` or
        `?token=`: an API key, the admin key or an `API_TOKENS` token), 400 malformed `job_id`. Raises
        DependencyError when the table or queue fails (API Gateway then refuses with 500).
        """
        token = (
            request.headers.get("x-api-key")
            or bearer_token(request.headers.get("authorization"))
            or request.query.get("token")
        )
        try:
            caller = resolve_caller(token)
        except UnauthorizedError:
            return 401
        owner = caller.owner
        job_id = request.query.get("job_id")
        if job_id is not None and not messages.is_job_id(job_id):
            return 400
        connection = self.connections.put_connection(
            request.connection_id, owner, caller.role.value
        )
        if job_id is not None:
            if self._job_exists(owner, job_id):
                self.connections.subscribe_job(connection, job_id)
            # API Gateway delivers nothing until $connect returns: the notify function sends
            # the current state (or the not_found error) once the connection is open.
            self._queue_snapshot(request.connection_id, owner, job_id)
        return 200

    def disconnect(self, connection_id: str) -> None:
        """Forget the connection and its subscriptions (best effort; TTL covers the rest)."""
        try:
            self.connections.remove_connection(connection_id)
        except DependencyError as error:
            logger.warning("could not clean up connection %s: %s", connection_id, error)

    def message(self, connection_id: str, route: str, body: str | None) -> None:
        """Handle a message routed to `route` (subscribe, ping, or $default)."""
        payload = _parse(body)
        if payload is None:
            self._reply(connection_id, messages.error("bad_request", "expected a JSON object"))
            return
        action = payload.get("action")
        try:
            if route == "ping" or action == "ping":
                self._reply(connection_id, messages.pong())
            elif route == "run" or action == "run" or (action is None and "task" in payload):
                self.tasks.run(connection_id, payload)
            elif route == "cancel" or action == "cancel":
                self.tasks.cancel(connection_id, payload)
            elif (route == "subscribe" or action == "subscribe") and "task_id" in payload:
                self.tasks.subscribe(connection_id, payload)
            elif (route == "subscribe" or action == "subscribe") and "batch_id" in payload:
                self.batches.subscribe(connection_id, payload)
            elif route == "subscribe" or action == "subscribe":
                self.subscribe(connection_id, payload.get("job_id"))
            else:
                text = f"unknown action {action!r}" if action else "missing action"
                self._reply(connection_id, messages.error("bad_request", text))
        except DependencyError as error:
            logger.warning("message on %s failed: %s", connection_id, error, exc_info=error)
            self._reply(connection_id, messages.error("unavailable", "try again shortly"))

    def subscribe(self, connection_id: str, job_id: Any) -> None:
        """Subscribe to a job, then push its current state.

        The subscription is recorded before the state is read, so an update between the two
        is either in the snapshot or published to this connection: nobody waits for an event
        that already happened.
        """
        if not messages.is_job_id(job_id):
            self._reply(connection_id, messages.error("bad_request", "job_id is required"))
            return
        connection = self.connections.get_connection(connection_id)
        if connection is None:
            # The record expired or $disconnect already ran: nothing to subscribe.
            self._reply(connection_id, messages.error("gone", "connection is not registered"))
            return
        topic = self.connections.subscribe_job(connection, job_id)
        state = self.job_state(connection.owner, job_id)
        if state is None:
            self.connections.unsubscribe(connection_id, topic)
            self._reply(connection_id, messages.error("not_found", f"job {job_id} not found"))
            return
        self._reply(connection_id, state)

    # -- helpers -----------------------------------------------------------------------------

    def _job_exists(self, owner: str, job_id: str) -> bool:
        return self.job_state(owner, job_id) is not None

    def _queue_snapshot(self, connection_id: str, owner: str, job_id: str) -> None:
        body = {
            "type": "snapshot",
            "connection_id": connection_id,
            "owner": owner,
            "job_id": job_id,
        }
        try:
            self.sqs.send_message(
                QueueUrl=get_settings().notify_queue_url,
                MessageBody=orjson.dumps(body).decode(),
                MessageAttributes=correlation.message_attributes(),
            )
        except AWS_ERRORS as error:
            raise DependencyError("could not queue the snapshot") from error

    def _reply(self, connection_id: str, message: dict[str, Any]) -> None:
        if self.notifier.send(connection_id, message) is Delivery.GONE:
            self.connections.drop_gone(connection_id)


def _parse(body: str | None) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None
