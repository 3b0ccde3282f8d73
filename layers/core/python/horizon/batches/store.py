"""The batches table adapter: batches, their tasks, and each owner's list of batches.

Items (table keys pk, sk; TTL attribute expires_at):
- pk=`BATCH#{id}`, sk=`META`: the batch: owner, task_count, the counts `n_<status>` (one per
  task status, adding up to task_count), `ended`, `seq` (grows with every transition), the
  fan-out cursors `created`/`enqueued`, `fanout_requested_at`, `published_decile`, created_at,
  completed_at;
- pk=`BATCH#{id}`, sk=`TASK#{index:05d}`: a task: text, client_ref, status, attempts, the
  claiming message and its lease, and its outcome (exit_code, result, output tails, error);
- pk=`OWNER#{owner}`, sk=`BATCH#{created_at}#{id}`: the owner's list of batches, oldest first.

A task and its batch's counters move in one transaction conditioned on the task's state (and
attempt), so a redelivered or duplicated message never moves a task twice and the counts are
exact. Tasks are created by the fan-out in transactions that also advance its cursor, each on
the condition that nobody did it before: a resumed or duplicate fan-out never overwrites a task.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from horizon.batches.exceptions import BatchInputError
from horizon.batches.models import Batch, Counts, TaskInput, TaskRecord, TaskStatus
from horizon.batches.settings import get_batch_settings
from horizon.clock import epoch_s, now_iso
from horizon.dynamo import (
    AWS_ERRORS,
    Table,
    batch_get,
    deserialize,
    is_conditional_failure,
    serialize,
)
from horizon.errors import ConflictError, DependencyError, NotFoundError
from horizon.metrics import count
from horizon.metrics import names as metric_names

META = "META"
TASK_PREFIX = "TASK#"
# BatchGetItem's limit, the most summaries one page of GET /batch reads at once.
BATCH_GET_MAX = 100


def batch_pk(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


def task_sk(index: int) -> str:
    return f"{TASK_PREFIX}{index:05d}"


def owner_pk(owner: str) -> str:
    return f"OWNER#{owner}"


def _counter(status: TaskStatus) -> str:
    return f"n_{status.value}"


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str:
    """Return the sort key a cursor stands for.

    Raises:
        BatchInputError: the cursor is not one this API gave out.
    """
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BatchInputError("cursor: not a cursor this API gave out") from error
    if not value.startswith(prefix) or len(value) > 200:
        raise BatchInputError("cursor: not a cursor this API gave out")
    return value


class BatchStore(Table):
    """Reads and writes batches and their tasks.

    Args:
        table: the table name; defaults to `BATCHES_TABLE`.
        client: a DynamoDB client; defaults to the shared one.
    """

    def __init__(self, table: str | None = None, client: Any = None) -> None:
        settings = get_batch_settings()
        super().__init__(table or settings.batches_table, client)
        self._retention_s = settings.retention_s

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return serialize({"pk": pk, "sk": sk})

    # -- batches ------------------------------------------------------------------------

    def create(self, batch: Batch) -> None:
        """Store a new batch (every task queued) and its entry in the owner's list."""
        expires_at = epoch_s() + self._retention_s
        meta = {
            "pk": batch_pk(batch.batch_id),
            "sk": META,
            "batch_id": batch.batch_id,
            "owner": batch.owner,
            "task_count": batch.task_count,
            "created_at": batch.created_at,
            "created": 0,
            "enqueued": 0,
            "ended": 0,
            "seq": 0,
            **{_counter(status): 0 for status in TaskStatus},
            _counter(TaskStatus.QUEUED): batch.task_count,
            "expires_at": expires_at,
        }
        listing = {
            "pk": owner_pk(batch.owner),
            "sk": f"BATCH#{batch.created_at}#{batch.batch_id}",
            "batch_id": batch.batch_id,
            "expires_at": expires_at,
        }
        self._transact(
            "store the batch",
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(meta),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": {"TableName": self._table, "Item": serialize(listing)}},
            ],
        )

    def get(self, batch_id: str, owner: str | None = None) -> Batch:
        """Return the batch; with `owner`, only if it is theirs.

        Raises:
            NotFoundError: no such batch (or another owner's).
        """
        item = self._call(
            "get_item",
            "read the batch",
            Key=self._key(batch_pk(batch_id), META),
            ConsistentRead=True,
        ).get("Item")
        found = deserialize(item) if item else None
        if found is None or (owner is not None and found.get("owner") != owner):
            raise NotFoundError(f"batch {batch_id} not found")
        return _batch(found)

    def list(self, owner: str, limit: int, cursor: str | None) -> tuple[list[Batch], str | None]:
        """Return a page of the owner's batches, newest first, and the next page's cursor."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": serialize({":pk": owner_pk(owner)}),
            "ScanIndexForward": False,
            "Limit": min(limit, BATCH_GET_MAX),
        }
        if cursor is not None:
            sk = decode_cursor(cursor, "BATCH#")
            request["ExclusiveStartKey"] = self._key(owner_pk(owner), sk)
        page = self._call("query", "list the batches", **request)
        entries = [deserialize(item) for item in page.get("Items", [])]
        next_cursor = None
        if "LastEvaluatedKey" in page and entries:
            next_cursor = encode_cursor(entries[-1]["sk"])
        if not entries:
            return [], next_cursor
        keys = [self._key(batch_pk(entry["batch_id"]), META) for entry in entries]
        found = batch_get(self.client, self._table, {"Keys": keys}, "read the batches")
        if found is None:
            raise DependencyError("could not read the batches: keys stayed unprocessed")
        by_id = {record["batch_id"]: _batch(record) for record in map(deserialize, found)}
        # Entries whose batch expired first (TTL removes items independently) are skipped.
        return [by_id[e["batch_id"]] for e in entries if e["batch_id"] in by_id], next_cursor

    # -- the fan-out ----------------------------------------------------------------------

    def create_tasks(self, batch: Batch, start: int, tasks: Sequence[TaskInput]) -> bool:
        """Create the records of tasks [start, start+len) and move the `created` cursor.

        Returns:
            False when the cursor was not at `start` (another fan-out did it): nothing written.
        """
        now, expires_at = now_iso(), epoch_s() + self._retention_s
        puts = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {
                            "pk": batch_pk(batch.batch_id),
                            "sk": task_sk(start + offset),
                            **TaskRecord(
                                batch_id=batch.batch_id,
                                owner=batch.owner,
                                index=start + offset,
                                task=task.task,
                                client_ref=task.client_ref,
                                task_count=batch.task_count,
                                created_at=now,
                            ).model_dump(mode="json", exclude_none=True),
                            "expires_at": expires_at,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for offset, task in enumerate(tasks)
        ]
        cursor = self._meta_update(
            batch.batch_id,
            "SET created = :end",
            "created = :start",
            {":start": start, ":end": start + len(tasks)},
        )
        try:
            self._transact("create the tasks", [cursor, *puts])
        except ConflictError:
            return False
        return True

    def mark_enqueued(self, batch_id: str, end: int) -> None:
        """Move the `enqueued` cursor forward to `end` (never back)."""
        self._update_meta_if(
            "record the enqueued tasks",
            batch_id,
            "SET enqueued = :end",
            "enqueued < :end",
            {":end": end},
        )

    def request_fanout(self, batch_id: str, now_s: int, due_s: int) -> bool:
        """Record that the fan-out message of an unfinished fan-out is sent again at `now_s`.

        Conditioned on the fan-out being unfinished and on no request after `due_s`: of the
        readers that find the same batch stalled, exactly one re-sends its message.

        Returns:
            Whether this call recorded the request (and so should send the message).
        """
        return self._update_meta_if(
            "record the fan-out request",
            batch_id,
            "SET fanout_requested_at = :now",
            "enqueued < task_count AND "
            "(attribute_not_exists(fanout_requested_at) OR fanout_requested_at <= :due)",
            {":now": now_s, ":due": due_s},
        )

    # -- tasks ----------------------------------------------------------------------------

    def get_task(self, batch_id: str, index: int) -> TaskRecord | None:
        """Return the task's record, or None when there is none (yet)."""
        item = self._call(
            "get_item",
            "read the task",
            Key=self._key(batch_pk(batch_id), task_sk(index)),
            ConsistentRead=True,
        ).get("Item")
        return TaskRecord.model_validate(deserialize(item)) if item else None

    def get_tasks(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], TaskRecord]:
        """Return the records of (batch_id, index) pairs (≤ 100) found, in one BatchGetItem."""
        if not keys:
            return {}
        request = {
            "Keys": [self._key(batch_pk(batch_id), task_sk(index)) for batch_id, index in keys],
            "ConsistentRead": True,
        }
        found = batch_get(self.client, self._table, request, "read the tasks")
        if found is None:
            raise DependencyError("could not read the tasks: keys stayed unprocessed")
        records = (TaskRecord.model_validate(deserialize(item)) for item in found)
        return {(record.batch_id, record.index): record for record in records}

    def tasks(
        self, batch_id: str, limit: int, cursor: str | None, status: TaskStatus | None = None
    ) -> tuple[list[TaskRecord], str | None]:
        """Return a page of the batch's tasks in index order (only `status` ones, if given).

        Raises:
            BatchInputError: a malformed cursor.
        """
        start = task_sk(0) if cursor is None else decode_cursor(cursor, TASK_PREFIX)
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": serialize(
                {":pk": batch_pk(batch_id), ":prefix": TASK_PREFIX}
            ),
            "ConsistentRead": True,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = self._key(batch_pk(batch_id), start)
        if status is not None:
            request["FilterExpression"] = "#status = :status"
            request["ExpressionAttributeNames"] = {"#status": "status"}
            request["ExpressionAttributeValues"].update(serialize({":status": status.value}))
        found: list[TaskRecord] = []
        while True:
            # Filtering happens after the read: ask for what is missing, a page at a time.
            request["Limit"] = limit - len(found) if status is None else max(limit, 100)
            page = self._call("query", "read the tasks", **request)
            for item in page.get("Items", []):
                if len(found) == limit:
                    return found, encode_cursor(task_sk(found[-1].index))
                found.append(TaskRecord.model_validate(deserialize(item)))
            if "LastEvaluatedKey" not in page:
                return found, None
            if len(found) == limit:
                return found, encode_cursor(task_sk(found[-1].index))
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(self, task: TaskRecord, message_id: str, lease_s: int) -> TaskRecord | None:
        """Mark the task running for one more attempt, claimed by the message `message_id`.

        A queued task moves from queued to running in the batch's counts; a running one (its
        worker vanished) is taken over, counted already.

        Returns:
            The task as claimed, or None when it moved on meanwhile.
        """
        now = now_iso()
        claimed = task.model_copy(
            update={
                "status": TaskStatus.RUNNING,
                "attempts": task.attempts + 1,
                "claimed_by": message_id,
                "lease_until": epoch_s() + lease_s,
                "started_at": now,
            }
        )
        update = self._task_update(
            task,
            "SET #status = :running, attempts = :attempt, claimed_by = :by, "
            "lease_until = :lease, started_at = :now",
            {
                ":running": TaskStatus.RUNNING.value,
                ":attempt": claimed.attempts,
                ":by": message_id,
                ":lease": claimed.lease_until,
                ":now": now,
            },
        )
        items = [update]
        if task.status == TaskStatus.QUEUED:
            items.append(self._move(task, TaskStatus.QUEUED, TaskStatus.RUNNING))
        try:
            self._transact("claim the task", items)
        except ConflictError:
            return None
        return claimed

    def release(self, claimed: TaskRecord) -> bool:
        """End the lease of a task this worker claimed and could not finish (its handling failed).

        The message's redelivery then takes the task over at once instead of waiting for the
        lease to lapse. Conditional on the claim still being this one.

        Returns:
            Whether the lease was ended (False: the task moved on meanwhile).
        """
        update = self._task_update(claimed, "SET lease_until = :lapsed", {":lapsed": 0})["Update"]
        try:
            self.client.update_item(**update)
        except AWS_ERRORS as error:
            if is_conditional_failure(error):
                return False
            raise DependencyError("could not release the task") from error
        return True

    def finish(
        self,
        task: TaskRecord,
        status: TaskStatus,
        *,
        exit_code: int | None = None,
        result: Any = None,
        stdout: str | None = None,
        stderr: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Store the task's outcome and move it, and the batch's counts, to `status`.

        Conditioned on the task being as read (status and attempt): only one ending is ever
        stored and counted.

        Returns:
            False when the task had moved on (another attempt, or it ended already).
        """
        assert status.finished
        values: dict[str, Any] = {":status": status.value, ":now": now_iso()}
        sets = ["#status = :status", "ended_at = :now"]
        names: dict[str, str] = {}
        for name, value in (
            ("exit_code", exit_code),
            ("result", result),
            ("stdout", stdout),
            ("stderr", stderr),
            ("error", error),
        ):
            if value is not None:
                # Names go through placeholders: `error` and `result` are reserved words.
                sets.append(f"#{name} = :{name}")
                names[f"#{name}"] = name
                values[f":{name}"] = value
        update = self._task_update(
            task, "SET " + ", ".join(sets) + " REMOVE lease_until", values, names
        )
        counters = self._move(task, task.status, status, ended=1)
        try:
            self._transact("store the outcome", [update, counters])
        except ConflictError:
            return False
        # Counted here, where the condition lets exactly one ending through, whichever caller
        # (worker, DLQ consumer, give-up) ended the task.
        count(metric_names.BATCH_TASKS_ENDED, status=status.value)
        return True

    def mark_completed(self, batch_id: str, task_count: int) -> bool:
        """Record when the batch completed, once every task ended. Returns whether this did."""
        return self._update_meta_if(
            "record the batch's completion",
            batch_id,
            "SET completed_at = :now",
            "ended = :count AND attribute_not_exists(completed_at)",
            {":now": now_iso(), ":count": task_count},
        )

    def claim_decile(self, batch_id: str, decile: int) -> bool:
        """Record that progress up to `decile` tenths was published; False if it was before."""
        return self._update_meta_if(
            "record the published progress",
            batch_id,
            "SET published_decile = :d",
            "attribute_not_exists(published_decile) OR published_decile < :d",
            {":d": decile},
        )

    # -- helpers --------------------------------------------------------------------------

    def _task_update(
        self,
        task: TaskRecord,
        update: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A transaction item updating the task, on the condition it is still as read."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(batch_pk(task.batch_id), task_sk(task.index)),
                "UpdateExpression": update,
                "ConditionExpression": "#status = :from AND attempts = :attempts",
                "ExpressionAttributeNames": {"#status": "status", **(names or {})},
                "ExpressionAttributeValues": serialize(
                    {**values, ":from": task.status.value, ":attempts": task.attempts}
                ),
            }
        }

    def _move(
        self, task: TaskRecord, source: TaskStatus, target: TaskStatus, ended: int = 0
    ) -> dict[str, Any]:
        """A transaction item moving one task from `source` to `target` in the counts."""
        sets = [
            f"{_counter(source)} = {_counter(source)} - :one",
            f"{_counter(target)} = {_counter(target)} + :one",
            "seq = seq + :one",
        ]
        if ended:
            sets.append("ended = ended + :one")
        return self._meta_update(task.batch_id, "SET " + ", ".join(sets), None, {":one": 1})

    def _meta_update(
        self, batch_id: str, update: str, condition: str | None, values: dict[str, Any]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(batch_pk(batch_id), META),
            "UpdateExpression": update,
            "ExpressionAttributeValues": serialize(values),
        }
        if condition:
            request["ConditionExpression"] = condition
        return {"Update": request}

    def _update_meta_if(
        self, what: str, batch_id: str, update: str, condition: str, values: dict[str, Any]
    ) -> bool:
        """Update the batch record when `condition` holds; returns whether it held.

        Raises:
            DependencyError: DynamoDB failed otherwise.
        """
        try:
            self.client.update_item(
                **self._meta_update(batch_id, update, condition, values)["Update"]
            )
        except AWS_ERRORS as error:
            if is_conditional_failure(error):
                return False
            raise DependencyError(f"could not {what}") from error
        return True

    def _transact(self, what: str, items: list[dict[str, Any]]) -> None:
        """Run a transaction.

        Raises:
            ConflictError: a condition failed (the items changed meanwhile).
            DependencyError: DynamoDB failed otherwise.
        """
        try:
            self.client.transact_write_items(TransactItems=items)
        except AWS_ERRORS as error:
            if isinstance(error, ClientError) and any(
                reason.get("Code") == "ConditionalCheckFailed"
                for reason in error.response.get("CancellationReasons") or []
            ):
                raise ConflictError(f"could not {what}: the item changed") from error
            raise DependencyError(f"could not {what}") from error


def _batch(record: dict[str, Any]) -> Batch:
    counts = Counts(**{status.value: int(record.get(_counter(status), 0)) for status in TaskStatus})
    return Batch(
        batch_id=record["batch_id"],
        owner=record["owner"],
        task_count=int(record["task_count"]),
        counts=counts,
        created_at=record["created_at"],
        completed_at=record.get("completed_at"),
        created=int(record.get("created", 0)),
        enqueued=int(record.get("enqueued", 0)),
        seq=int(record.get("seq", 0)),
        fanout_requested_at=record.get("fanout_requested_at"),
    )
