"""Store-then-push delivery of a task's messages to its subscribers, without gaps or repeats.

Every message is stored under the next seq before anything is pushed. While the task runs,
the task process alone pushes: it keeps, per subscribed connection, the last seq it sent,
and catches a new subscriber up from the store (from its `after_seq`) before sending it
anything newer. So each connection receives every seq once, in order.

At the end the task process marks the task `closed` and then looks at the subscriptions
once more. A subscribe handler that reads the record after recording its subscription
replays a closed task itself. Both may see a subscription made around the close; the
conditional `claim` lets exactly one of them replay it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from horizon import correlation
from horizon.agent import models
from horizon.agent.coalescer import encode_data
from horizon.agent.models import Chunk, Stream, TaskStatus
from horizon.agent.store import TaskStore
from horizon.agent.subscriptions import Subscription, TaskSubscriptions
from horizon.errors import HorizonError
from horizon.realtime.connections import ConnectionStore
from horizon.realtime.notifier import MAX_FRAME_BYTES, Delivery, Notifier

logger = logging.getLogger(__name__)

# Room for the largest seq and task id the envelope may carry, and for a correlation id: the
# one stored with the message, or the one added when a message stored without one is pushed.
_FRAME_BUDGET = MAX_FRAME_BYTES - 256 - correlation.STAMP_BYTES


def frame_pieces(task_id: str, stream: Stream, data: bytes) -> list[tuple[str, bool]]:
    """Split `data` into pieces whose `output` message fits one frame; return (text, base64).

    JSON escaping can grow text up to six times (control characters), base64 by a third.
    """
    text, is_base64 = encode_data(data)
    size = len(orjson.dumps(models.output(task_id, 0, stream, text, is_base64)))
    if size <= _FRAME_BUDGET or len(data) <= 1:
        return [(text, is_base64)]
    middle = len(data) // 2
    return frame_pieces(task_id, stream, data[:middle]) + frame_pieces(
        task_id, stream, data[middle:]
    )


class Sender:
    """Posts messages to one task's subscribers and forgets connections that are gone."""

    def __init__(
        self,
        owner: str,
        task_id: str,
        subscriptions: TaskSubscriptions,
        notifier: Notifier,
        connections: ConnectionStore,
    ) -> None:
        self.owner = owner
        self.task_id = task_id
        self.subscriptions = subscriptions
        self.notifier = notifier
        self.connections = connections
        self.pushes = 0
        self.pushed_bytes = 0

    def send(self, connection_id: str, message: dict[str, Any]) -> Delivery:
        """Post one message; on 410 drop the subscription (unless the connection is opening)."""
        delivery = self.notifier.send(connection_id, message)
        if delivery is Delivery.SENT:
            self.pushes += 1
            if message.get("type") == "output":
                self.pushed_bytes += len(message["data"])
        elif delivery is Delivery.GONE:
            try:
                if self.connections.drop_gone(connection_id):
                    self.subscriptions.remove(self.owner, self.task_id, connection_id)
            except HorizonError as error:
                logger.warning("could not forget connection %s: %s", connection_id, error)
        return delivery

    def send_all(self, connection_id: str, chunks: list[Chunk]) -> int | None:
        """Send chunks in order; return the last seq sent (None when the first failed)."""
        last = None
        for chunk in chunks:
            if self.send(connection_id, chunk.message) is not Delivery.SENT:
                break
            last = chunk.seq
        return last


def replay(store: TaskStore, sender: Sender, subscription: Subscription) -> None:
    """Send a finished task's stored messages after the subscription's `after_seq`."""
    chunks = store.messages(sender.owner, sender.task_id, subscription.after_seq)
    sender.send_all(subscription.connection_id, chunks)


class Broadcaster:
    """The task process's side: numbers, stores and pushes messages.

    Args:
        store: the tasks table.
        sender: posts to this task's subscribers.
        refresh_s: how often the subscriber list is read again.
        clock: monotonic time.
    """

    def __init__(
        self,
        store: TaskStore,
        sender: Sender,
        refresh_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.sender = sender
        self.refresh_s = refresh_s
        self.clock = clock
        self.seq = 0
        self._recent: Chunk | None = None
        self._cursors: dict[str, tuple[str, int]] = {}  # connection → (token, last seq sent)
        self._refreshed_at = float("-inf")

    @property
    def owner(self) -> str:
        return self.sender.owner

    @property
    def task_id(self) -> str:
        return self.sender.task_id

    def cursors(self) -> dict[str, tuple[str, int]]:
        """Per connection (subscription token, last seq sent): what a heartbeat records."""
        return dict(self._cursors)  # a copy: the heartbeat thread reads it

    def resume(self, seq: int, cursors: dict[str, tuple[str, int]]) -> None:
        """Continue after a dead task process: its last stored seq and recorded cursors."""
        self.seq = seq
        self._cursors = dict(cursors)

    def emit_output(self, stream: Stream, data: bytes) -> None:
        """Store and push `data` as one or more `output` messages."""
        for text, is_base64 in frame_pieces(self.task_id, stream, data):
            self._emit(
                lambda seq, text=text, b64=is_base64: models.output(
                    self.task_id, seq, stream, text, b64
                )
            )

    def emit_exit(self, status: TaskStatus, exit_code: int | None, error: str | None) -> None:
        """Store and push the final `exit` message, to every subscriber known by now."""
        self._emit(lambda seq: models.exit_message(self.task_id, seq, status, exit_code, error))
        self.tick(force=True)

    def _emit(self, build: Callable[[int], dict[str, Any]]) -> None:
        seq = self.seq + 1
        # Stored with the run's id: a replay, pushed under a subscriber's request, names the run.
        message = correlation.stamped(build(seq))
        self.store.put_message(self.owner, self.task_id, seq, message)
        self.seq = seq
        self._recent = Chunk(seq, message)
        self.tick()

    def tick(self, force: bool = False) -> None:
        """Read the subscribers again when due, then bring every one of them up to date."""
        if force or self.clock() - self._refreshed_at >= self.refresh_s:
            self._refresh()
        for connection_id, (token, sent) in list(self._cursors.items()):
            if sent >= self.seq:
                continue
            if self._recent is not None and sent == self._recent.seq - 1:
                chunks = [self._recent]
            else:
                chunks = self.store.messages(self.owner, self.task_id, sent, self.seq)
            last = self.sender.send_all(connection_id, chunks)
            if last is not None and connection_id in self._cursors:
                self._cursors[connection_id] = (token, last)

    def _refresh(self) -> None:
        self._refreshed_at = self.clock()
        try:
            subscriptions = self.sender.subscriptions.list(self.owner, self.task_id)
        except HorizonError as error:
            logger.warning("could not read the subscribers: %s", error)
            return
        current: dict[str, tuple[str, int]] = {}
        for subscription in subscriptions:
            known = self._cursors.get(subscription.connection_id)
            if known is not None and known[0] == subscription.token:
                current[subscription.connection_id] = known
            else:
                current[subscription.connection_id] = (subscription.token, subscription.after_seq)
        self._cursors = current

    def close(self) -> None:
        """Hand over to the subscribe handler: claim, close, then serve late subscriptions.

        The subscriptions served live are claimed before the record says `closed`, so a
        handler that sees `closed` can never replay them a second time; subscriptions made
        around the close are claimed by one side only.
        """
        for connection_id, (token, _) in self._cursors.items():
            served = Subscription(connection_id, 0, token)
            self.sender.subscriptions.claim(self.owner, self.task_id, served, "task")
        self.store.mark_closed(self.owner, self.task_id)
        for subscription in self.sender.subscriptions.list(self.owner, self.task_id):
            known = self._cursors.get(subscription.connection_id)
            if known is not None and known[0] == subscription.token:
                continue
            if self.sender.subscriptions.claim(self.owner, self.task_id, subscription, "task"):
                replay(self.store, self.sender, subscription)
