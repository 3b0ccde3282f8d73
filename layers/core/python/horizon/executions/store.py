"""The executions table adapter: executions, their output, code sessions, owners' counters.

Items (sk is always "record" except for output):
- pk=`EXEC#{id}`: the execution (owner, status, code, limits, timestamps per state, every
  transition, attempt,
  lease, result fields, and small output); sk=`out#{attempt}#{stream}#{n}`: larger output in
  pieces under DynamoDB's 400 KB item limit, written before the record turns finished (the
  record is the commit point: whoever sees it finished finds its output; a lapsed attempt's
  pieces have keys of their own);
- pk=`SESSION#{id}`: a code session (owner, language, source code, version);
- pk=`OWNER#{owner}`: `active`, how many of the owner's executions are QUEUED or RUNNING, and
  `running`, how many RUNNING.

Every state change is a conditional write on the current state (and attempt), so a redelivered
message, a second worker or a late writer can never move an execution twice. The owner's
counters move in the same transaction as the state change, so they cannot drift; their
conditions are the per-owner limits (unfinished at submission, running at the claim).
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from horizon.clock import epoch_s, now_iso
from horizon.dynamo import AWS_ERRORS, Table, batch_write, deserialize, error_code, serialize
from horizon.errors import ConflictError, DependencyError, HorizonError, NotFoundError
from horizon.executions.exceptions import OwnerBusyError, TooManyExecutionsError
from horizon.executions.models import CodeSession, Execution, ExecutionStatus, Transition
from horizon.executions.settings import get_execution_settings
from horizon.metrics import count
from horizon.metrics import names as metric_names

logger = logging.getLogger(__name__)

RECORD = "record"
STREAMS = ("stdout", "stderr")
# Output up to this many characters (both streams) is stored inside the record (with code and
# stdin capped at 64 KiB each, the record stays far below 400 KB); more goes in pieces.
INLINE_OUTPUT_CHARS = 16 * 1024
# Output is stored in pieces of at most this many characters (UTF-8: ≤ 4 bytes each, so a
# piece stays under DynamoDB's 400 KB item limit with room for its keys).
PIECE_CHARS = 90_000


def execution_pk(execution_id: str) -> str:
    return f"EXEC#{execution_id}"


def session_pk(session_id: str) -> str:
    return f"SESSION#{session_id}"


def owner_pk(owner: str) -> str:
    return f"OWNER#{owner}"


# Every state change is appended to the record's `transitions` list.
APPEND_TRANSITION = (
    "transitions = list_append(if_not_exists(transitions, :no_transitions), :transition)"
)


def _appended(transition: Transition) -> dict[str, Any]:
    """The expression values of APPEND_TRANSITION."""
    return {":transition": [transition.model_dump(mode="json")], ":no_transitions": []}


def _output_prefix(attempt: int) -> str:
    return f"out#{attempt:03d}#"


def _pieces(text: str) -> list[str]:
    return [text[i : i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)]


class ExecutionStore(Table):
    """Reads and writes executions, their output, code sessions and owners' counters.

    Args:
        table: the table name; defaults to `EXECUTIONS_TABLE`.
        client: a DynamoDB client; defaults to the shared one.
    """

    def __init__(self, table: str | None = None, client: Any = None) -> None:
        settings = get_execution_settings()
        super().__init__(table or settings.executions_table, client)
        self._retention_s = settings.retention_s

    def _key(self, pk: str, sk: str = RECORD) -> dict[str, Any]:
        return serialize({"pk": pk, "sk": sk})

    def _expires_at(self) -> int:
        return epoch_s() + self._retention_s

    # -- executions -----------------------------------------------------------------------

    def create(self, execution: Execution, max_active: int) -> None:
        """Store a new QUEUED execution and count it against its owner's limit, atomically.

        Raises:
            TooManyExecutionsError: the owner has `max_active` executions queued or running.
            DependencyError: DynamoDB failed.
        """
        item = {
            "pk": execution_pk(execution.execution_id),
            "sk": RECORD,
            **execution.model_dump(mode="json", exclude_none=True),
            "expires_at": self._expires_at(),
        }
        self._transact(
            "queue the execution",
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": serialize(item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                self._count(execution.owner, active=+1, active_limit=max_active),
            ],
        )

    def get(self, execution_id: str, owner: str | None = None) -> Execution:
        """Return the execution (without its output); with `owner`, only if it is theirs.

        Raises:
            NotFoundError: no such execution (or another owner's).
        """
        return Execution.model_validate(self._execution_record(execution_id, owner))

    def _record(self, pk: str, what: str) -> dict[str, Any] | None:
        """One consistent GetItem of the record item of partition `pk`."""
        item = self._call("get_item", what, Key=self._key(pk), ConsistentRead=True).get("Item")
        return deserialize(item) if item else None

    def _execution_record(self, execution_id: str, owner: str | None) -> dict[str, Any]:
        record = self._record(execution_pk(execution_id), "read the execution")
        if record is None or (owner is not None and record.get("owner") != owner):
            raise NotFoundError(f"execution {execution_id} not found")
        return record

    def claim(
        self, execution: Execution, lease_s: float, max_attempts: int, max_running: int
    ) -> Execution | None:
        """Mark the execution RUNNING for one more attempt, if nobody runs it now.

        A QUEUED execution is claimed when its owner has fewer than `max_running` running,
        and counted as running; a RUNNING one whose lease lapsed (its worker vanished) is
        claimed again while attempts remain (it is counted already).

        Returns:
            The execution as claimed, or None when it is finished or another worker holds it.

        Raises:
            OwnerBusyError: the owner has `max_running` executions running; try later.
        """
        now, at = epoch_s(), now_iso()
        transition = Transition(
            status=ExecutionStatus.RUNNING, at=at, attempt=execution.attempts + 1
        )
        claimed = execution.model_copy(
            update={
                "status": ExecutionStatus.RUNNING,
                "attempts": execution.attempts + 1,
                "lease_until": now + int(lease_s),
                "timestamps": {**execution.timestamps, ExecutionStatus.RUNNING.value: at},
                "transitions": [*execution.transitions, transition],
            }
        )
        values: dict[str, Any] = {
            ":running": ExecutionStatus.RUNNING.value,
            ":attempt": claimed.attempts,
            ":previous": execution.attempts,
            ":lease": claimed.lease_until,
            ":timestamps": claimed.timestamps,
            **_appended(transition),
        }
        if execution.status == ExecutionStatus.QUEUED:
            condition = "#status = :queued AND attempts = :previous"
            values[":queued"] = ExecutionStatus.QUEUED.value
            counters = [self._count(execution.owner, running=+1, running_limit=max_running)]
        else:
            condition = (
                "#status = :running AND attempts = :previous AND lease_until < :now "
                "AND attempts < :max"
            )
            values.update({":now": now, ":max": max_attempts})
            counters = []
        update = self._state_change(
            execution,
            "SET #status = :running, attempts = :attempt, lease_until = :lease, "
            f"timestamps = :timestamps, {APPEND_TRANSITION}",
            condition,
            values,
        )
        try:
            self._transact("claim the execution", [update, *counters], OwnerBusyError)
        except ConflictError:
            return None
        return claimed

    def requeue(self, execution: Execution) -> bool:
        """Give a claimed execution back (the sandbox failed, not the code): QUEUED again.

        Returns:
            False when the claim was no longer this attempt's.
        """
        transition = Transition(
            status=ExecutionStatus.QUEUED, at=now_iso(), attempt=execution.attempts
        )
        # QUEUED's time is the new one: how long it waits is counted from here.
        update = self._state_change(
            execution,
            f"SET #status = :queued, timestamps.#queued = :at, {APPEND_TRANSITION} "
            "REMOVE lease_until",
            "#status = :running AND attempts = :attempt",
            {
                ":queued": ExecutionStatus.QUEUED.value,
                ":running": ExecutionStatus.RUNNING.value,
                ":attempt": execution.attempts,
                ":at": transition.at,
                **_appended(transition),
            },
            {"#queued": "QUEUED"},
        )
        try:
            self._transact(
                "requeue the execution", [update, self._count(execution.owner, running=-1)]
            )
        except ConflictError:
            return False
        return True

    def finish(
        self,
        execution: Execution,
        status: ExecutionStatus,
        *,
        stdout: str = "",
        stderr: str = "",
        exit_code: int | None = None,
        error: str | None = None,
        execution_time_ms: int | None = None,
        truncated: bool = False,
    ) -> bool:
        """Store the result and move the execution from the state it was read in to `status`.

        Small output travels inside the record; larger output is written first in pieces under
        keys of this attempt. Then the state change and the owner's counters move in one
        transaction, on the condition that the execution is still as read (same status and
        attempt), so only one ending is ever stored, and a reader that sees it finds its output.

        Returns:
            False when the execution had moved on (another ending won).
        """
        assert status.finished
        pk = execution_pk(execution.execution_id)
        inline = len(stdout) + len(stderr) <= INLINE_OUTPUT_CHARS
        if not inline:
            self._put_pieces(pk, execution.attempts, stdout, stderr)
        transition = Transition(status=status, at=now_iso(), attempt=execution.attempts)
        timestamps = {**execution.timestamps, status.value: transition.at}
        values: dict[str, Any] = {
            **_appended(transition),
            ":status": status.value,
            ":from": execution.status.value,
            ":attempt": execution.attempts,
            ":timestamps": timestamps,
            ":truncated": truncated,
        }
        names: dict[str, str] = {}
        sets = [
            "#status = :status",
            "timestamps = :timestamps",
            "truncated = :truncated",
            APPEND_TRANSITION,
        ]
        if inline:
            sets += ["stdout = :stdout", "stderr = :stderr"]
            values.update({":stdout": stdout, ":stderr": stderr})
        for name, value in (
            ("exit_code", exit_code),
            ("error", error),
            ("execution_time_ms", execution_time_ms),
        ):
            if value is not None:
                sets.append(f"#{name} = :{name}")
                names[f"#{name}"] = name
                values[f":{name}"] = value
        update = self._state_change(
            execution,
            "SET " + ", ".join(sets) + " REMOVE lease_until",
            "#status = :from AND attempts = :attempt",
            values,
            names,
        )
        try:
            running = -1 if execution.status == ExecutionStatus.RUNNING else 0
            counter = self._count(execution.owner, active=-1, running=running)
            self._transact("store the result", [update, counter])
        except ConflictError:
            return False
        # Counted here, where the condition lets exactly one ending through, whichever process
        # (sandbox worker, DLQ consumer, a read finding it lost) ended the execution.
        count(metric_names.EXECUTIONS_ENDED, status=status.value)
        return True

    def _put_pieces(self, pk: str, attempt: int, stdout: str, stderr: str) -> None:
        expires_at = self._expires_at()
        batch_write(
            self.client,
            self._table,
            (
                {
                    "PutRequest": {
                        "Item": serialize(
                            {
                                "pk": pk,
                                "sk": f"{_output_prefix(attempt)}{stream}#{n:04d}",
                                "text": piece,
                                "expires_at": expires_at,
                            }
                        )
                    }
                }
                for stream, text in (("stdout", stdout), ("stderr", stderr))
                for n, piece in enumerate(_pieces(text))
            ),
            "store the output",
        )

    def read(
        self, execution_id: str, owner: str | None = None
    ) -> tuple[Execution, str | None, str | None]:
        """Return the execution with its stdout and stderr (None until it is finished).

        One consistent GetItem of the record, which holds small output itself; output in
        pieces takes one Query more, of this attempt's pieces only.

        Raises:
            NotFoundError: no such execution (or, with `owner`, another owner's).
        """
        record = self._execution_record(execution_id, owner)
        execution = Execution.model_validate(record)
        if not execution.status.finished:
            return execution, None, None
        if "stdout" in record:  # small output, inside the record
            return execution, record["stdout"], record.get("stderr", "")
        return execution, *self._output_pieces(execution)

    def _output_pieces(self, execution: Execution) -> tuple[str, str]:
        prefix = _output_prefix(execution.attempts)
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": serialize(
                {":pk": execution_pk(execution.execution_id), ":prefix": prefix}
            ),
            "ConsistentRead": True,
        }
        texts: dict[str, list[str]] = {stream: [] for stream in STREAMS}
        while True:
            page = self._call("query", "read the output", **request)
            # In key order: out#001#stderr#0000, …, out#001#stdout#0000, …
            for piece in map(deserialize, page.get("Items", [])):
                texts[piece["sk"].split("#")[2]].append(piece["text"])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return "".join(texts["stdout"]), "".join(texts["stderr"])

    def _state_change(
        self,
        execution: Execution,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A transaction item updating the execution's record (`#status` is `status`)."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(execution_pk(execution.execution_id)),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status", **(names or {})},
                "ExpressionAttributeValues": serialize(values),
            }
        }

    def owner_counts(self, owner: str) -> tuple[int, int]:
        """Return how many of the owner's executions are unfinished, and how many running."""
        found = self._record(owner_pk(owner), "read the owner's executions") or {}
        return int(found.get("active", 0)), int(found.get("running", 0))

    def _count(
        self,
        owner: str,
        *,
        active: int = 0,
        running: int = 0,
        active_limit: int | None = None,
        running_limit: int | None = None,
    ) -> dict[str, Any]:
        """The owner's counters moved by `active`/`running`, refused at a limit."""
        values: dict[str, Any] = {":zero": 0}
        sets, conditions = [], []
        for name, delta, limit in (
            ("active", active, active_limit),
            ("running", running, running_limit),
        ):
            if delta:
                sets.append(f"{name} = if_not_exists({name}, :zero) + :{name}")
                values[f":{name}"] = delta
            if limit is not None:
                conditions.append(f"(attribute_not_exists({name}) OR {name} < :{name}_limit)")
                values[f":{name}_limit"] = limit
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(owner_pk(owner)),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeValues": serialize(values),
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(conditions)
        return {"Update": update}

    def _transact(
        self,
        what: str,
        items: list[dict[str, Any]],
        at_limit: type[HorizonError] = TooManyExecutionsError,
    ) -> None:
        """Run a transaction; the item failing its condition says which error it is.

        Raises:
            ConflictError: the first item's condition failed (the execution moved on).
            at_limit: the owner's counters (the second item) refused: a limit.
            DependencyError: DynamoDB failed otherwise.
        """
        try:
            self.client.transact_write_items(TransactItems=items)
        except AWS_ERRORS as error:
            reasons = _cancellation_reasons(error)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise ConflictError(f"could not {what}: the item changed") from error
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise at_limit() from error
            raise DependencyError(f"could not {what}") from error

    # -- code sessions --------------------------------------------------------------------

    def create_session(self, owner: str, session: CodeSession) -> None:
        """Store a new code session."""
        item = {
            "pk": session_pk(session.session_id),
            "sk": RECORD,
            "owner": owner,
            **session.model_dump(mode="json"),
            "expires_at": self._expires_at(),
        }
        self._call(
            "put_item",
            "store the session",
            Item=serialize(item),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_session(self, owner: str, session_id: str) -> CodeSession:
        """Return the owner's session.

        Raises:
            NotFoundError: no such session (or another owner's).
        """
        found = self._record(session_pk(session_id), "read the session")
        if found is None or found.get("owner") != owner:
            raise NotFoundError(f"code session {session_id} not found")
        return CodeSession.from_item(found)

    def update_session(
        self, owner: str, session_id: str, changes: dict[str, str], version: int | None
    ) -> CodeSession:
        """Save `changes` (language, source_code) and bump the version.

        Without `version` the last write wins; with it, the save happens only at that version.

        Raises:
            NotFoundError: no such session (or another owner's).
            ConflictError: the session is at another version.
        """
        values: dict[str, Any] = {
            ":owner": owner,
            ":one": 1,
            ":now": now_iso(),
            ":expires": self._expires_at(),
        }
        sets = ["version = version + :one", "updated_at = :now", "expires_at = :expires"]
        for name, value in changes.items():
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = value
        condition = "#owner = :owner"
        if version is not None:
            condition += " AND version = :version"
            values[":version"] = version
        try:
            item = self.client.update_item(
                TableName=self._table,
                Key=self._key(session_pk(session_id)),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )["Attributes"]
        except AWS_ERRORS as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise DependencyError("could not save the session") from error
            old = getattr(error, "response", {}).get("Item")
            current = deserialize(old) if old else None
            if current is None or current.get("owner") != owner:
                raise NotFoundError(f"code session {session_id} not found") from error
            raise ConflictError(
                f"code session {session_id} is at version {current.get('version')}, not {version}"
            ) from error
        return CodeSession.from_item(deserialize(item))


def _cancellation_reasons(error: BaseException) -> list[str]:
    if not isinstance(error, ClientError):
        return []
    reasons = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "None")) for reason in reasons]
