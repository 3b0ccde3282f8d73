"""The WebSocket side of agent tasks: run, cancel, subscribe. Validates, records, launches.

Called by `horizon.realtime.service.WebSocketService` for the `run` and `cancel` routes, a
`{"task": ...}` message on `$default`, and `subscribe` with a `task_id`. Everything here is
a few DynamoDB calls and one RunTask: far inside API Gateway's 29 s.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from horizon import correlation
from horizon.agent import models
from horizon.agent.delivery import Sender, replay
from horizon.agent.exceptions import LaunchError
from horizon.agent.launcher import TaskLauncher, make_launcher
from horizon.agent.models import TaskStatus
from horizon.agent.reaper import finalize_if_lapsed
from horizon.agent.settings import get_agent_settings
from horizon.agent.store import TaskStore
from horizon.agent.subscriptions import TaskSubscriptions
from horizon.errors import ConflictError, NotFoundError
from horizon.realtime import messages
from horizon.realtime.connections import Connection, ConnectionStore
from horizon.realtime.notifier import Notifier

logger = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("6f1d5c3e-1a7b-4e58-9a0e-3c2f5d8b9e10")
MAX_REQUEST_ID_CHARS = 128

Reply = Callable[[str, dict[str, Any]], None]


def task_id_for(owner: str, request_id: str | None) -> str:
    """A new task id; the same one for a repeated request_id of the same owner."""
    if request_id is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_NAMESPACE, f"{owner}\n{request_id}"))


class TaskService:
    """Handles the task messages of one WebSocket API.

    Args:
        reply: posts a message to a connection (and handles 410), from the WebSocket service.
        connections, notifier: the WebSocket service's collaborators.
        store, subscriptions, launcher: made lazily when omitted.
    """

    def __init__(
        self,
        reply: Reply,
        connections: ConnectionStore,
        notifier: Notifier,
        store: TaskStore | None = None,
        subscriptions: TaskSubscriptions | None = None,
        launcher: TaskLauncher | None = None,
    ) -> None:
        self._reply = reply
        self._connections = connections
        self._notifier = notifier
        self._store = store
        self._subscriptions = subscriptions
        self._launcher = launcher

    @property
    def store(self) -> TaskStore:
        if self._store is None:
            self._store = TaskStore()
        return self._store

    @property
    def subscriptions(self) -> TaskSubscriptions:
        if self._subscriptions is None:
            self._subscriptions = TaskSubscriptions()
        return self._subscriptions

    @property
    def launcher(self) -> TaskLauncher:
        if self._launcher is None:
            self._launcher = make_launcher()
        return self._launcher

    def _connection(self, connection_id: str) -> Connection | None:
        connection = self._connections.get_connection(connection_id)
        if connection is None:
            self._reply(connection_id, messages.error("gone", "connection is not registered"))
        return connection

    def _bad(self, connection_id: str, text: str) -> None:
        self._reply(connection_id, messages.error("bad_request", text))

    # -- run -------------------------------------------------------------------------------

    def run(self, connection_id: str, payload: dict[str, Any]) -> None:
        """Record a task for the connection's owner, subscribe the connection, launch it."""
        task, request_id = payload.get("task"), payload.get("request_id")
        limit = get_agent_settings().max_task_chars
        if not isinstance(task, str) or not task.strip():
            self._bad(connection_id, "task must be a non-empty string")
            return
        if len(task) > limit:
            self._bad(connection_id, f"task is longer than {limit} characters")
            return
        if request_id is not None and (
            not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID_CHARS
        ):
            self._bad(
                connection_id, f"request_id must be a string of 1–{MAX_REQUEST_ID_CHARS} characters"
            )
            return
        connection = self._connection(connection_id)
        if connection is None or not self._may_run(connection):
            return
        task_id = task_id_for(connection.owner, request_id)
        try:
            self.store.create(connection.owner, task_id, task, connection_id, request_id)
        except ConflictError:
            # The same request again (a client retry): same task, launched once.
            self._reply(connection_id, models.accepted(task_id, request_id))
            return
        self.subscriptions.subscribe(connection, task_id, after_seq=0)
        self._reply(connection_id, models.accepted(task_id, request_id))
        try:
            launched = self.launcher.launch(connection.owner, task_id)
        except LaunchError as error:
            logger.warning("task %s not launched: %s", task_id, error)
            self._fail_unlaunched(connection, task_id, str(error))
            return
        logger.info("task %s launched (%s)", task_id, launched)

    def _may_run(self, connection: Connection) -> bool:
        if connection.may_run:
            return True
        self._reply(
            connection.connection_id,
            messages.error(
                "forbidden", "a reader's key may follow tasks but not run or cancel them"
            ),
        )
        return False

    def _fail_unlaunched(self, connection: Connection, task_id: str, reason: str) -> None:
        # Stored with this request's id, as the task process stores its own (delivery.py).
        exit_message = correlation.stamped(
            models.exit_message(task_id, 1, TaskStatus.FAILED, None, reason)
        )
        self.store.put_message(connection.owner, task_id, 1, exit_message)
        self.store.set_status(connection.owner, task_id, TaskStatus.FAILED)
        self.store.mark_closed(connection.owner, task_id)
        self._reply(connection.connection_id, exit_message)

    # -- cancel ----------------------------------------------------------------------------

    def cancel(self, connection_id: str, payload: dict[str, Any]) -> None:
        """Ask the owner's running task to stop; its `exit` says `cancelled`."""
        task_id = payload.get("task_id")
        if not models.is_task_id(task_id):
            self._bad(connection_id, "task_id is required")
            return
        connection = self._connection(connection_id)
        if connection is None or not self._may_run(connection):
            return
        try:
            record = self.store.get(connection.owner, task_id)
            if self._finalize_if_lapsed(record):
                record = self.store.get(connection.owner, task_id)
            if record.status.finished:
                self._reply(
                    connection_id,
                    messages.error(
                        "conflict", f"task {task_id} already ended {record.status.value}"
                    ),
                )
                return
            self.store.request_cancel(connection.owner, task_id)
        except NotFoundError:
            self._reply(connection_id, messages.error("not_found", f"task {task_id} not found"))

    def _finalize_if_lapsed(self, record: models.TaskRecord) -> bool:
        """End a task whose process died unseen (ECS): its lease lapsed. See reaper.py."""
        return finalize_if_lapsed(
            self.store, record, self.subscriptions, self._notifier, self._connections
        )

    # -- subscribe -------------------------------------------------------------------------

    def subscribe(self, connection_id: str, payload: dict[str, Any]) -> None:
        """Watch a task from `after_seq` (default 0): the stored messages, then live ones."""
        task_id, after_seq = payload.get("task_id"), payload.get("after_seq", 0)
        if not models.is_task_id(task_id):
            self._bad(connection_id, "task_id is required")
            return
        if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
            self._bad(connection_id, "after_seq must be a whole number ≥ 0")
            return
        connection = self._connection(connection_id)
        if connection is None:
            return
        try:
            self.store.get(connection.owner, task_id)
        except NotFoundError:
            self._reply(connection_id, messages.error("not_found", f"task {task_id} not found"))
            return
        # Subscribe first, then look: a task that closes meanwhile is replayed by exactly
        # one side (see horizon.agent.delivery).
        subscription = self.subscriptions.subscribe(connection, task_id, after_seq)
        record = self.store.get(connection.owner, task_id)
        if self._finalize_if_lapsed(record):
            return  # the finalization served this subscription along with the others
        if not record.closed:
            return  # the running task process catches this subscription up
        if self.subscriptions.claim(connection.owner, task_id, subscription, "handler"):
            sender = Sender(
                connection.owner, task_id, self.subscriptions, self._notifier, self._connections
            )
            replay(self.store, sender, subscription)
