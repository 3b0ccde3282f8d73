"""The tasks table adapter: task records and their stored output.

Items of one task share pk=`TASK#{owner}#{task_id}` (so every read is scoped by the owner):
- seq 0: the record (task text, status, connection, cancel request, closed flag, and the
  liveness fields: `lease_until`, `heartbeat_at`, `pid`, `cursors`, `exit_claim`);
- seq ≥ 1: the messages pushed to subscribers (output chunks, then one exit), as JSON text,
  each written before it is pushed. All items carry `expires_at` (TTL).
"""

from __future__ import annotations

from typing import Any

import orjson

from horizon import wiring
from horizon.agent.models import Chunk, TaskRecord, TaskStatus
from horizon.agent.settings import get_agent_settings
from horizon.clock import epoch_s, now_iso
from horizon.dynamo import Table, deserialize, serialize
from horizon.errors import ConflictError, NotFoundError

RECORD_SEQ = 0
TTL = wiring.TASKS.ttl_attribute or "expires_at"


def task_pk(owner: str, task_id: str) -> str:
    return f"TASK#{owner}#{task_id}"


class TaskStore(Table):
    """Records tasks and their messages.

    Args:
        table: the table name; defaults to `TASKS_TABLE`.
        client: a DynamoDB client; defaults to the shared one.
        retention_s: how long items live; defaults to the agent settings'.
    """

    def __init__(
        self, table: str | None = None, client: Any = None, retention_s: int | None = None
    ) -> None:
        settings = get_agent_settings()
        super().__init__(table or settings.tasks_table, client)
        self._retention_s = retention_s or settings.retention_s

    def _key(self, owner: str, task_id: str, seq: int = RECORD_SEQ) -> dict[str, Any]:
        return serialize({"pk": task_pk(owner, task_id), "seq": seq})

    # -- the record ------------------------------------------------------------------------

    def create(
        self,
        owner: str,
        task_id: str,
        task: str,
        connection_id: str | None = None,
        request_id: str | None = None,
    ) -> TaskRecord:
        """Record a new task.

        Raises:
            ConflictError: a task with this id exists already (a repeated request_id).
        """
        record = TaskRecord(
            task_id=task_id,
            owner=owner,
            task=task,
            status=TaskStatus.STARTING,
            created_at=now_iso(),
            connection_id=connection_id,
            request_id=request_id,
        )
        settings = get_agent_settings()
        item = {
            "pk": task_pk(owner, task_id),
            "seq": RECORD_SEQ,
            "task_id": task_id,
            "owner": owner,
            "task": task,
            "status": record.status.value,
            "created_at": record.created_at,
            "connection_id": connection_id,
            "request_id": request_id,
            # Until the task process starts and renews it: the time a launch may take.
            "lease_until": epoch_s() + settings.start_grace_s,
            TTL: epoch_s() + self._retention_s,
        }
        self._call(
            "put_item",
            "record the task",
            Item=serialize(item),
            ConditionExpression="attribute_not_exists(pk)",
        )
        return record

    def get(self, owner: str, task_id: str) -> TaskRecord:
        """Return the owner's task (strongly consistent).

        Raises:
            NotFoundError: no such task for this owner.
        """
        response = self._call(
            "get_item", "read the task", Key=self._key(owner, task_id), ConsistentRead=True
        )
        if "Item" not in response:
            raise NotFoundError(f"task {task_id} not found")
        item = deserialize(response["Item"])
        return TaskRecord(
            task_id=item["task_id"],
            owner=item["owner"],
            task=item["task"],
            status=TaskStatus(item["status"]),
            created_at=item["created_at"],
            connection_id=item.get("connection_id"),
            request_id=item.get("request_id"),
            cancel_requested=bool(item.get("cancel_requested", False)),
            closed=bool(item.get("closed", False)),
            lease_until=int(item["lease_until"]) if "lease_until" in item else None,
            pid=int(item["pid"]) if "pid" in item else None,
            cursors={
                connection_id: (str(cursor["token"]), int(cursor["seq"]))
                for connection_id, cursor in (item.get("cursors") or {}).items()
            },
        )

    def _update(self, owner: str, task_id: str, what: str, expression: str, **values: Any) -> None:
        request: dict[str, Any] = {
            "Key": self._key(owner, task_id),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": serialize(values),
        }
        if "#status" in expression:  # `status` is a DynamoDB reserved word
            request["ExpressionAttributeNames"] = {"#status": "status"}
        self._call("update_item", what, **request)

    def set_status(self, owner: str, task_id: str, status: TaskStatus) -> None:
        """Record the task's status. Raises ConflictError when the task does not exist."""
        self._update(
            owner, task_id, "record the status", "SET #status = :s", **{":s": status.value}
        )

    def start(self, owner: str, task_id: str, pid: int, lease_s: int) -> None:
        """Move the task from starting to running, once, taking the first lease.

        Raises:
            ConflictError: the task is not starting (a second launch of the same task, or a
                launch that came after the task was given up as lost).
        """
        now = epoch_s()
        self._call(
            "update_item",
            "start the task",
            Key=self._key(owner, task_id),
            UpdateExpression=(
                "SET #status = :running, pid = :pid, heartbeat_at = :now, lease_until = :until"
            ),
            ConditionExpression="#status = :starting",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=serialize(
                {
                    ":running": TaskStatus.RUNNING.value,
                    ":starting": TaskStatus.STARTING.value,
                    ":pid": pid,
                    ":now": now,
                    ":until": now + lease_s,
                }
            ),
        )

    def heartbeat(
        self, owner: str, task_id: str, lease_s: int, cursors: dict[str, tuple[str, int]]
    ) -> None:
        """Renew the running task's lease and record how far each subscriber was served."""
        now = epoch_s()
        self._update(
            owner,
            task_id,
            "renew the lease",
            "SET heartbeat_at = :now, lease_until = :until, cursors = :cursors",
            **{
                ":now": now,
                ":until": now + lease_s,
                ":cursors": {
                    connection_id: {"token": token, "seq": seq}
                    for connection_id, (token, seq) in cursors.items()
                },
            },
        )

    def claim_exit(
        self, owner: str, task_id: str, by: str, status: TaskStatus, lapsed_at: int | None = None
    ) -> bool:
        """Take the right to store the final `exit` (and record `status`); one side gets it.

        Args:
            by: "task" (the task process at its end) or "reaper" (a crash finalization). The
                reaper may take over a claim of the task process that never closed (it died
                between claiming and closing), never another reaper's.
            lapsed_at: for the reaper, require the lease to have ended before this epoch
                second (checked in the same write, so a renewal in between wins).

        Returns:
            Whether this caller holds the claim.
        """
        condition = "attribute_not_exists(exit_claim)"
        values: dict[str, Any] = {":by": by, ":s": status.value}
        if by != "task":
            condition = (
                "attribute_exists(pk) AND (attribute_not_exists(closed) OR closed = :false)"
                " AND (attribute_not_exists(exit_claim) OR exit_claim = :task)"
            )
            values.update({":false": False, ":task": "task"})
            if lapsed_at is not None:
                condition += " AND lease_until < :lapsed"
                values[":lapsed"] = lapsed_at
        try:
            self._call(
                "update_item",
                "claim the exit",
                Key=self._key(owner, task_id),
                UpdateExpression="SET exit_claim = :by, #status = :s",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize(values),
            )
        except ConflictError:
            return False
        return True

    def request_cancel(self, owner: str, task_id: str) -> None:
        """Ask the running task to stop. Raises NotFoundError for another owner's task."""
        try:
            self._update(
                owner, task_id, "request the cancel", "SET cancel_requested = :t", **{":t": True}
            )
        except ConflictError as error:
            raise NotFoundError(f"task {task_id} not found") from error

    def mark_closed(self, owner: str, task_id: str) -> None:
        """Record that the task process has served every subscriber it knows of."""
        self._update(owner, task_id, "close the task", "SET closed = :t", **{":t": True})

    # -- messages --------------------------------------------------------------------------

    def put_message(self, owner: str, task_id: str, seq: int, message: dict[str, Any]) -> None:
        """Store one message under `seq` (once: a second write of a seq is a conflict).

        Raises:
            ConflictError: the seq is taken (two processes running one task).
        """
        item = {
            "pk": task_pk(owner, task_id),
            "seq": seq,
            "message": orjson.dumps(message).decode(),
            TTL: epoch_s() + self._retention_s,
        }
        self._call(
            "put_item",
            "store the output",
            Item=serialize(item),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def last_message(self, owner: str, task_id: str) -> Chunk | None:
        """Return the message with the highest seq, or None when nothing was stored."""
        response = self._call(
            "query",
            "read the output",
            KeyConditionExpression="pk = :pk AND seq > :record",
            ExpressionAttributeValues=serialize(
                {":pk": task_pk(owner, task_id), ":record": RECORD_SEQ}
            ),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        if not items:
            return None
        item = deserialize(items[0])
        return Chunk(seq=int(item["seq"]), message=orjson.loads(item["message"]))

    def messages(
        self, owner: str, task_id: str, after_seq: int, up_to: int | None = None
    ) -> list[Chunk]:
        """Return the stored messages with after_seq < seq (≤ up_to), in order."""
        condition = "pk = :pk AND seq > :after"
        values: dict[str, Any] = {":pk": task_pk(owner, task_id), ":after": max(after_seq, 0)}
        if up_to is not None:
            condition = "pk = :pk AND seq BETWEEN :first AND :last"
            values = {":pk": values[":pk"], ":first": max(after_seq, 0) + 1, ":last": up_to}
        request: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": serialize(values),
            "ConsistentRead": True,
        }
        found: list[Chunk] = []
        while True:
            response = self._call("query", "read the output", **request)
            for raw in response.get("Items", []):
                item = deserialize(raw)
                found.append(Chunk(seq=int(item["seq"]), message=orjson.loads(item["message"])))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
