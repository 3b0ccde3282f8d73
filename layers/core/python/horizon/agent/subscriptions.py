"""Task subscriptions in the connections table, shaped like the job subscriptions.

pk=`SUB#task#{owner}#{task_id}`, sk=connection_id, with `after_seq` (the last seq the client
has), `token` (new per subscribe, so a repeated subscribe restarts from its after_seq) and
`served_by` (set once, conditionally, when a finished task's backlog is replayed: exactly one
of the task process and the subscribe handler replays it). The topic is added to the
connection's META `topics`, so `$disconnect` deletes the subscription too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from horizon.dynamo import (
    AWS_ERRORS,
    deserialize,
    is_conditional_failure,
    serialize,
    serialize_value,
)
from horizon.errors import DependencyError
from horizon.lazy import aws_client
from horizon.realtime.connections import META, TTL, Connection, connection_pk
from horizon.settings import get_settings


def task_topic(owner: str, task_id: str) -> str:
    """The partition key holding the subscribers of one task."""
    return f"SUB#task#{owner}#{task_id}"


@dataclass(frozen=True)
class Subscription:
    connection_id: str
    after_seq: int
    token: str
    served_by: str | None = None


class TaskSubscriptions:
    """Records who watches which task.

    Args:
        table: the connections table; defaults to `CONNECTIONS_TABLE`.
        client: a DynamoDB client; defaults to the shared one.
    """

    client = aws_client("dynamodb")

    def __init__(self, table: str | None = None, client: Any = None) -> None:
        self._table = table or get_settings().connections_table
        self._client = client

    def subscribe(self, connection: Connection, task_id: str, after_seq: int) -> Subscription:
        """Record (or restart) the connection's subscription from `after_seq`."""
        topic = task_topic(connection.owner, task_id)
        subscription = Subscription(connection.connection_id, after_seq, uuid.uuid4().hex)
        item = {
            "pk": topic,
            "sk": connection.connection_id,
            "after_seq": after_seq,
            "token": subscription.token,
            TTL: connection.expires_at,
        }
        try:
            self.client.put_item(TableName=self._table, Item=serialize(item))
            self.client.update_item(
                TableName=self._table,
                Key=serialize({"pk": connection_pk(connection.connection_id), "sk": META}),
                UpdateExpression="ADD topics :topic",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":topic": {"SS": [topic]}},
            )
        except AWS_ERRORS as error:
            if not is_conditional_failure(error):  # a vanished META: the TTL cleans up
                raise DependencyError("could not record the subscription") from error
        return subscription

    def list(self, owner: str, task_id: str) -> list[Subscription]:
        """Return the task's subscriptions (strongly consistent)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": serialize_value(task_topic(owner, task_id))},
            "ConsistentRead": True,
        }
        found: list[Subscription] = []
        while True:
            try:
                response = self.client.query(**request)
            except AWS_ERRORS as error:
                raise DependencyError("could not list the subscribers") from error
            for raw in response.get("Items", []):
                item = deserialize(raw)
                found.append(
                    Subscription(
                        connection_id=item["sk"],
                        after_seq=int(item.get("after_seq", 0)),
                        token=str(item.get("token", "")),
                        served_by=item.get("served_by"),
                    )
                )
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def claim(self, owner: str, task_id: str, subscription: Subscription, by: str) -> bool:
        """Take the job of replaying a finished task to this subscription; True if won."""
        try:
            self.client.update_item(
                TableName=self._table,
                Key=serialize({"pk": task_topic(owner, task_id), "sk": subscription.connection_id}),
                UpdateExpression="SET served_by = :by",
                ConditionExpression="attribute_exists(pk) AND #token = :token AND attribute_not_exists(served_by)",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues=serialize({":by": by, ":token": subscription.token}),
            )
        except AWS_ERRORS as error:
            if is_conditional_failure(error):
                return False
            raise DependencyError("could not claim the subscription") from error
        return True

    def remove(self, owner: str, task_id: str, connection_id: str) -> None:
        """Delete one subscription."""
        try:
            self.client.delete_item(
                TableName=self._table,
                Key=serialize({"pk": task_topic(owner, task_id), "sk": connection_id}),
            )
        except AWS_ERRORS as error:
            raise DependencyError("could not delete the subscription") from error
