"""The connections table adapter: WebSocket connections and their subscriptions.

Items (table keys `pk`, `sk`; TTL attribute `expires_at` covers missed `$disconnect`s):
- connection: pk=`CONN#{connection_id}`, sk=`META`, owner, connected_at, connected_epoch,
  expires_at, topics (string set of the subscription partition keys, so `$disconnect` can
  delete them).
- subscription: pk=`SUB#job#{owner}#{job_id}` (or `SUB#batch#{owner}#{batch_id}`),
  sk=connection_id, expires_at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from horizon import wiring
from horizon.clock import epoch_s, now_iso
from horizon.dynamo import (
    AWS_ERRORS,
    Table,
    deserialize,
    is_conditional_failure,
    serialize,
    serialize_value,
)
from horizon.errors import DependencyError
from horizon.settings import get_settings

META = "META"
# API Gateway cannot deliver to a connection until its $connect returns: a 410 within this
# many seconds of connecting may mean "not open yet" rather than "gone".
CONNECT_GRACE_S = 10
TTL = wiring.CONNECTIONS.ttl_attribute or "expires_at"


def connection_pk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def job_topic(owner: str, job_id: str) -> str:
    """The partition key holding the subscribers of one job."""
    return f"SUB#job#{owner}#{job_id}"


def batch_topic(owner: str, batch_id: str) -> str:
    """The partition key holding the subscribers of one batch."""
    return f"SUB#batch#{owner}#{batch_id}"


@dataclass(frozen=True)
class Connection:
    connection_id: str
    owner: str
    connected_at: str
    connected_epoch: int
    expires_at: int
    topics: frozenset[str] = field(default_factory=frozenset)
    # The caller's role at $connect: a reader may watch (subscribe) but not run or cancel.
    role: str = "member"

    @property
    def may_run(self) -> bool:
        return self.role != "reader"

    def is_young(self, now: int | None = None) -> bool:
        """Return whether the connection may still be opening (see CONNECT_GRACE_S)."""
        return (now if now is not None else epoch_s()) - self.connected_epoch < CONNECT_GRACE_S


class ConnectionStore(Table):
    """Records connections and subscriptions.

    Args:
        table: the table name; defaults to `CONNECTIONS_TABLE` from the settings.
        client: a DynamoDB client; defaults to the shared one from `horizon.aws`.
        ttl_s: how long a record lives without a `$disconnect`; defaults to the settings'.
    """

    def __init__(
        self, table: str | None = None, client: Any = None, ttl_s: int | None = None
    ) -> None:
        settings = get_settings()
        super().__init__(table or settings.connections_table, client)
        self._ttl_s = ttl_s or settings.connection_ttl_s

    def put_connection(self, connection_id: str, owner: str, role: str = "member") -> Connection:
        """Record a new connection of `owner`, whose key has `role`."""
        now = epoch_s()
        connection = Connection(
            connection_id=connection_id,
            owner=owner,
            connected_at=now_iso(),
            connected_epoch=now,
            expires_at=now + self._ttl_s,
            role=role,
        )
        item = {
            "pk": connection_pk(connection_id),
            "sk": META,
            "owner": owner,
            "role": role,
            "connected_at": connection.connected_at,
            "connected_epoch": connection.connected_epoch,
            TTL: connection.expires_at,
        }
        self._call("put_item", "record the connection", Item=serialize(item))
        return connection

    def get_connection(self, connection_id: str) -> Connection | None:
        """Return the connection's record, or None when there is none."""
        response = self._call(
            "get_item",
            "read the connection",
            Key=serialize({"pk": connection_pk(connection_id), "sk": META}),
            ConsistentRead=True,
        )
        if "Item" not in response:
            return None
        item = deserialize(response["Item"])
        return Connection(
            connection_id=connection_id,
            owner=item["owner"],
            connected_at=item["connected_at"],
            connected_epoch=int(item.get("connected_epoch", 0)),
            expires_at=int(item.get(TTL, 0)),
            topics=frozenset(item.get("topics", ())),
            role=str(item.get("role", "member")),
        )

    def subscribe_job(self, connection: Connection, job_id: str) -> str:
        """Subscribe the connection to a job's progress; returns the topic. Idempotent."""
        return self._subscribe(connection, job_topic(connection.owner, job_id), {"job_id": job_id})

    def subscribe_batch(self, connection: Connection, batch_id: str) -> str:
        """Subscribe the connection to a batch's progress; returns the topic. Idempotent."""
        topic = batch_topic(connection.owner, batch_id)
        return self._subscribe(connection, topic, {"batch_id": batch_id})

    def _subscribe(self, connection: Connection, topic: str, about: dict[str, str]) -> str:
        item = {
            "pk": topic,
            "sk": connection.connection_id,
            "owner": connection.owner,
            **about,
            TTL: connection.expires_at,
        }
        self._call("put_item", "record the subscription", Item=serialize(item))
        # Remember the topic on the connection so $disconnect can find the subscription.
        self._add_topic(connection.connection_id, topic)
        return topic

    def _add_topic(self, connection_id: str, topic: str) -> None:
        try:
            self.client.update_item(
                TableName=self._table,
                Key=serialize({"pk": connection_pk(connection_id), "sk": META}),
                UpdateExpression="ADD topics :topic",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":topic": {"SS": [topic]}},
            )
        except AWS_ERRORS as error:
            # A connection without a META item was cleaned up already: the TTL on the
            # subscription item removes it in time, nothing else to do.
            if not is_conditional_failure(error):
                raise DependencyError("could not remember the subscription") from error

    def unsubscribe(self, connection_id: str, topic: str) -> None:
        """Delete one subscription of the connection (best effort on the META item)."""
        self._call(
            "delete_item",
            "delete the subscription",
            Key=serialize({"pk": topic, "sk": connection_id}),
        )

    def subscribers(self, owner: str, job_id: str) -> list[str]:
        """Return the ids of the connections subscribed to the owner's job."""
        return self.topic_subscribers(job_topic(owner, job_id))

    def topic_subscribers(self, topic: str) -> list[str]:
        """Return the ids of the connections subscribed to `topic` (a job's or a batch's)."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": serialize_value(topic)},
            "ProjectionExpression": "sk",
            # Strong reads: a subscriber records itself and then reads the job; a publisher
            # writes the job and then reads the subscribers. With both reads consistent, every
            # update reaches the subscriber one way or the other.
            "ConsistentRead": True,
        }
        found: list[str] = []
        while True:
            response = self._call("query", "list the subscribers", **request)
            found.extend(item["sk"]["S"] for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def remove_connection(self, connection_id: str) -> None:
        """Delete the connection's record and every subscription it remembers."""
        connection = self.get_connection(connection_id)
        if connection is not None:
            for topic in connection.topics:
                self.unsubscribe(connection_id, topic)
        self._call(
            "delete_item",
            "delete the connection",
            Key=serialize({"pk": connection_pk(connection_id), "sk": META}),
        )

    def drop_gone(self, connection_id: str) -> bool:
        """Handle a 410 from `@connections`: remove the connection unless it is still opening.

        Returns:
            True when the connection was removed (or had no record), False when it is young
            and was kept because its `$connect` may not have completed yet.
        """
        connection = self.get_connection(connection_id)
        if connection is not None and connection.is_young():
            return False
        self.remove_connection(connection_id)
        return True
