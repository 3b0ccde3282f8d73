"""`{"action": "subscribe", "batch_id"}` on the WebSocket: the batch's counts now, then updates.

The subscription is recorded before the batch is read, so an update between the two is either
in the snapshot or published to this connection (both reads are strong): nobody waits for an
update that already happened. Updates come from horizon.batches.progress.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from horizon.batches.models import is_batch_id
from horizon.batches.progress import batch_message
from horizon.batches.store import BatchStore
from horizon.errors import NotFoundError
from horizon.lazy import Collaborator
from horizon.realtime import messages
from horizon.realtime.connections import ConnectionStore

Reply = Callable[[str, dict[str, Any]], None]


class BatchSubscriptions:
    """Subscribes connections to batches.

    Args:
        reply: posts a message to a connection.
        connections: the connections store.
        store: the batches store; made lazily when omitted.
    """

    store = Collaborator(BatchStore)

    def __init__(
        self, reply: Reply, connections: ConnectionStore, store: BatchStore | None = None
    ) -> None:
        self._reply, self._connections, self._store = reply, connections, store

    def subscribe(self, connection_id: str, payload: dict[str, Any]) -> None:
        """Subscribe to the batch the payload names, then send its current counts."""
        batch_id = payload.get("batch_id")
        if not is_batch_id(batch_id):
            self._reply(connection_id, messages.error("bad_request", "batch_id is required"))
            return
        connection = self._connections.get_connection(connection_id)
        if connection is None:
            self._reply(connection_id, messages.error("gone", "connection is not registered"))
            return
        topic = self._connections.subscribe_batch(connection, batch_id)
        try:
            batch = self.store.get(batch_id, connection.owner)
        except NotFoundError:
            self._connections.unsubscribe(connection_id, topic)
            self._reply(connection_id, messages.error("not_found", f"batch {batch_id} not found"))
            return
        self._reply(connection_id, batch_message(batch))
