"""The nonprofits and email-jobs tables.

Nonprofits: pk=`NONPROFIT#{owner}`, sk=`{domain}#{email}`: an owner's nonprofits of one domain
are one `begins_with` query on the key (no scan, no index); the sk is made from the
normalised address, so `GET /nonprofits/{email}` is a GetItem.

Email jobs: pk=`EMAILJOB#{owner}`, sk=`JOB#{job_id}`: the job (status, counters `sent`,
`failed` and `done`, template, subject, cc). Each recipient's email: pk=`EMAILJOB#{owner}#{job_id}`,
sk=`TO#{email}` (status sending → sent | failed, subject, body, message_id, sent_at). A
recipient is claimed with a conditional put before its send and settled in one transaction
with the job's counters, conditional on still being "sending": a redelivered message finds the
claim and never sends or counts twice.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from horizon.clock import epoch_s, now_iso
from horizon.dynamo import (
    AWS_ERRORS,
    Table,
    batch_get,
    deserialize,
    error_code,
    serialize,
    serialize_value,
)
from horizon.email_jobs.addresses import domain_of
from horizon.email_jobs.models import (
    DeliveryStatus,
    EmailJob,
    JobStatus,
    Nonprofit,
    SentEmail,
)
from horizon.email_jobs.settings import get_email_settings
from horizon.errors import ConflictError, DependencyError, InvalidRequestError, NotFoundError

BATCH_GET_MAX = 100  # BatchGetItem's limit
TRANSACT_MAX = 100  # TransactWriteItems' limit


def encode_cursor(sort_key: str) -> str:
    """An opaque page cursor over one partition's sort key."""
    return base64.urlsafe_b64encode(orjson.dumps({"sk": sort_key})).decode()


def decode_cursor(cursor: str) -> str:
    """Raises: InvalidRequestError: not a cursor this API gave out (422)."""
    try:
        return str(orjson.loads(base64.urlsafe_b64decode(cursor.encode()))["sk"])
    except (ValueError, KeyError, TypeError, UnicodeError) as error:
        raise InvalidRequestError("invalid cursor") from error


class _PagedTable(Table):
    def _page(
        self, pk: str, prefix: str, limit: int, cursor: str | None, what: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the items of partition `pk` whose sk starts with `prefix`."""
        values = {":pk": serialize_value(pk)}
        condition = "pk = :pk"
        if prefix:  # DynamoDB refuses an empty begins_with
            values[":prefix"] = serialize_value(prefix)
            condition += " AND begins_with(sk, :prefix)"
        request: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": limit,
        }
        if cursor:
            start = decode_cursor(cursor)
            if not start.startswith(prefix):
                raise InvalidRequestError("invalid cursor")
            request["ExclusiveStartKey"] = serialize({"pk": pk, "sk": start})
        response = self._call("query", what, **request)
        items = [deserialize(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, encode_cursor(deserialize(last)["sk"]) if last else None


def nonprofit_pk(owner: str) -> str:
    return f"NONPROFIT#{owner}"


def nonprofit_sk(email: str) -> str:
    return f"{domain_of(email)}#{email}"


class NonprofitStore(_PagedTable):
    """An owner's registered nonprofits.

    Args:
        table: the table name; defaults to `NONPROFITS_TABLE`.
        client: a DynamoDB client; defaults to the shared one.
    """

    def __init__(self, table: str | None = None, client: Any = None) -> None:
        super().__init__(table or get_email_settings().nonprofits_table, client)

    def _key(self, owner: str, email: str) -> dict[str, Any]:
        return serialize({"pk": nonprofit_pk(owner), "sk": nonprofit_sk(email)})

    def create(self, owner: str, email: str, name: str, address: str) -> Nonprofit:
        """Raises: ConflictError: the owner registered this address already (409)."""
        nonprofit = Nonprofit(email=email, name=name, address=address, created_at=now_iso())
        item = {
            "pk": nonprofit_pk(owner),
            "sk": nonprofit_sk(email),
            "owner": owner,
            **nonprofit.model_dump(),
        }
        try:
            self._call(
                "put_item",
                "register the nonprofit",
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ConflictError as error:
            raise ConflictError(f"nonprofit {email} is already registered") from error
        return nonprofit

    def get(self, owner: str, email: str) -> Nonprofit:
        """Raises: NotFoundError: not registered by this owner (404)."""
        item = self._call(
            "get_item", "read the nonprofit", Key=self._key(owner, email), ConsistentRead=True
        ).get("Item")
        if not item:
            raise NotFoundError(f"nonprofit {email} not found")
        return Nonprofit.from_item(deserialize(item))

    def update(self, owner: str, email: str, changes: dict[str, str]) -> Nonprofit:
        """Raises: NotFoundError: not registered by this owner (404)."""
        names = {f"#f{i}": name for i, name in enumerate(changes)}
        values = {f":v{i}": serialize_value(value) for i, value in enumerate(changes.values())}
        try:
            response = self._call(
                "update_item",
                "update the nonprofit",
                Key=self._key(owner, email),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes))),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ConflictError as error:
            raise NotFoundError(f"nonprofit {email} not found") from error
        return Nonprofit.from_item(deserialize(response["Attributes"]))

    def delete(self, owner: str, email: str) -> None:
        """Raises: NotFoundError: not registered by this owner (404)."""
        try:
            self._call(
                "delete_item",
                "delete the nonprofit",
                Key=self._key(owner, email),
                ConditionExpression="attribute_exists(pk)",
            )
        except ConflictError as error:
            raise NotFoundError(f"nonprofit {email} not found") from error

    def page(
        self, owner: str, domain: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Nonprofit], str | None]:
        """A page of the owner's nonprofits (of `domain` only, when given), by domain then email."""
        prefix = f"{domain.lower()}#" if domain else ""
        items, next_cursor = self._page(
            nonprofit_pk(owner), prefix, limit, cursor, "list the nonprofits"
        )
        return [Nonprofit.from_item(item) for item in items], next_cursor

    def get_many(self, owner: str, emails: list[str]) -> dict[str, Nonprofit]:
        """Return the owner's nonprofits among `emails` (normalised, unique), by address.

        Raises:
            DependencyError: DynamoDB failed or kept keys unprocessed.
        """
        found: dict[str, Nonprofit] = {}
        for start in range(0, len(emails), BATCH_GET_MAX):
            keys = [self._key(owner, email) for email in emails[start : start + BATCH_GET_MAX]]
            items = batch_get(
                self.client, self._table, {"Keys": keys, "ConsistentRead": True}, "read nonprofits"
            )
            if items is None:
                raise DependencyError("could not read nonprofits: keys stayed unprocessed")
            for item in items:
                nonprofit = Nonprofit.from_item(deserialize(item))
                found[nonprofit.email] = nonprofit
        return found


def jobs_pk(owner: str) -> str:
    return f"EMAILJOB#{owner}"


def job_sk(job_id: str) -> str:
    return f"JOB#{job_id}"


def emails_pk(owner: str, job_id: str) -> str:
    return f"EMAILJOB#{owner}#{job_id}"


def email_sk(address: str) -> str:
    return f"TO#{address}"


class EmailJobStore(_PagedTable):
    """Email jobs, their counters, and each recipient's email.

    Args:
        table: the table name; defaults to `EMAIL_JOBS_TABLE`.
        client: a DynamoDB client; defaults to the shared one.
    """

    def __init__(self, table: str | None = None, client: Any = None) -> None:
        settings = get_email_settings()
        super().__init__(table or settings.email_jobs_table, client)
        self._retention_s = settings.retention_s

    def _job_key(self, owner: str, job_id: str) -> dict[str, Any]:
        return serialize({"pk": jobs_pk(owner), "sk": job_sk(job_id)})

    def _email_key(self, owner: str, job_id: str, address: str) -> dict[str, Any]:
        return serialize({"pk": emails_pk(owner, job_id), "sk": email_sk(address)})

    # -- jobs -----------------------------------------------------------------------------

    def create(self, job: EmailJob) -> None:
        item = {
            "pk": jobs_pk(job.owner),
            "sk": job_sk(job.job_id),
            **job.model_dump(mode="json", exclude_none=True),
            "expires_at": epoch_s() + self._retention_s,
        }
        self._call(
            "put_item",
            "create the email job",
            Item=serialize(item),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, owner: str, job_id: str) -> EmailJob:
        """Raises: NotFoundError: no such job of this owner (404)."""
        item = self._call(
            "get_item", "read the email job", Key=self._job_key(owner, job_id), ConsistentRead=True
        ).get("Item")
        if not item:
            raise NotFoundError(f"email job {job_id} not found")
        return EmailJob.from_item(deserialize(item))

    def page(self, owner: str, limit: int, cursor: str | None) -> tuple[list[EmailJob], str | None]:
        items, next_cursor = self._page(jobs_pk(owner), "JOB#", limit, cursor, "list email jobs")
        return [EmailJob.from_item(item) for item in items], next_cursor

    def move(
        self,
        owner: str,
        job_id: str,
        to: JobStatus,
        from_: tuple[JobStatus, ...],
        error: str | None = None,
    ) -> bool:
        """Move the job to `to` if it is in one of `from_`; returns whether it moved.

        A finished status also sets `completed_at`.
        """
        sets = ["#status = :to"]
        values: dict[str, Any] = {":to": serialize_value(to.value)}
        if to.finished:
            sets.append("completed_at = :now")
            values[":now"] = serialize_value(now_iso())
        if error is not None:
            sets.append("#error = :error")
            values[":error"] = serialize_value(error)
        allowed = []
        for i, status in enumerate(from_):
            values[f":from{i}"] = serialize_value(status.value)
            allowed.append(f":from{i}")
        try:
            self._call(
                "update_item",
                "update the email job",
                Key=self._job_key(owner, job_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=f"#status IN ({', '.join(allowed)})",
                ExpressionAttributeNames={"#status": "status", "#error": "error"}
                if error is not None
                else {"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ConflictError:
            return False
        return True

    # -- recipients' emails -----------------------------------------------------------------

    def claim(self, owner: str, job_id: str, email: SentEmail, lease_s: int) -> bool:
        """Record the recipient's email as "sending" before it is sent, if nothing is recorded.

        Returns:
            True when claimed now; False when a record exists (an earlier delivery's).
        """
        item = {
            "pk": emails_pk(owner, job_id),
            "sk": email_sk(email.to),
            **email.model_dump(mode="json", exclude_none=True),
            "status": DeliveryStatus.SENDING.value,
            "lease_until": epoch_s() + lease_s,
            "expires_at": epoch_s() + self._retention_s,
        }
        try:
            self._call(
                "put_item",
                "claim the recipient",
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ConflictError:
            return False
        return True

    def email_record(self, owner: str, job_id: str, address: str) -> dict[str, Any] | None:
        item = self._call(
            "get_item",
            "read the recipient",
            Key=self._email_key(owner, job_id, address),
            ConsistentRead=True,
        ).get("Item")
        return deserialize(item) if item else None

    def settle(
        self,
        owner: str,
        job_id: str,
        address: str,
        status: DeliveryStatus,
        message_id: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Mark a claimed recipient sent or failed and count it on the job, in one transaction.

        Conditional on the recipient still being "sending": whoever settles it first counts it,
        once. Returns whether this call did.
        """
        counter = "sent" if status == DeliveryStatus.SENT else "failed"
        fields: dict[str, Any] = {":status": status.value, ":sending": DeliveryStatus.SENDING.value}
        sets = ["#status = :status"]
        if message_id is not None:
            fields[":message_id"], fields[":sent_at"] = message_id, now_iso()
            sets += ["message_id = :message_id", "sent_at = :sent_at"]
        if error is not None:
            fields[":error"] = error
            sets.append("#error = :error")
        names = {"#status": "status"} | ({"#error": "error"} if error is not None else {})
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._email_key(owner, job_id, address),
                            "UpdateExpression": "SET " + ", ".join(sets),
                            "ConditionExpression": "#status = :sending",
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": {
                                k: serialize_value(v) for k, v in fields.items()
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._job_key(owner, job_id),
                            "UpdateExpression": f"ADD {counter} :one, done :one",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":one": serialize_value(1)},
                        }
                    },
                ]
            )
        except AWS_ERRORS as error:
            if error_code(error) == "TransactionCanceledException":
                return False  # settled by another delivery already (or the job expired)
            raise DependencyError("could not record the email's outcome") from error
        return True

    def fail_unsent(self, owner: str, job_id: str, emails: list[SentEmail], error: str) -> int:
        """Record recipients that were never sent as failed, and count them on the job.

        For the recipients no delivery will send (their message could not be queued, or the
        queue gave up on it). Each record is conditional on the recipient having none, so a
        delivery that claimed it meanwhile keeps it and nothing is counted twice; a delivery
        that comes later finds the record and sends nothing. Up to `TRANSACT_MAX - 1`
        recipients and their count go in one transaction; when one of them has a record, that
        group is retried one recipient at a time.

        Returns:
            How many recipients this call recorded.
        """
        recorded = 0
        group_size = TRANSACT_MAX - 1  # the last item of a transaction counts the group
        for start in range(0, len(emails), group_size):
            group = emails[start : start + group_size]
            if self._record_failed(owner, job_id, group, error):
                recorded += len(group)
            elif len(group) > 1:
                recorded += sum(self._record_failed(owner, job_id, [e], error) for e in group)
        return recorded

    def _record_failed(self, owner: str, job_id: str, emails: list[SentEmail], error: str) -> bool:
        expires_at = epoch_s() + self._retention_s
        puts = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {
                            "pk": emails_pk(owner, job_id),
                            "sk": email_sk(email.to),
                            **email.model_dump(mode="json", exclude_none=True),
                            "status": DeliveryStatus.FAILED.value,
                            "error": error,
                            "expires_at": expires_at,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for email in emails
        ]
        count = {
            "Update": {
                "TableName": self._table,
                "Key": self._job_key(owner, job_id),
                "UpdateExpression": "ADD failed :n, done :n",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":n": serialize_value(len(emails))},
            }
        }
        try:
            self.client.transact_write_items(TransactItems=[*puts, count])
        except AWS_ERRORS as failure:
            if error_code(failure) == "TransactionCanceledException":
                return False  # a recipient has a record (or the job expired)
            raise DependencyError("could not record the unsent emails") from failure
        return True

    def end_if_settled(self, owner: str, job_id: str) -> EmailJob:
        """End the job once every recipient is settled, and return it as it stands.

        `completed` when at least one email was sent, else `failed`. Conditional: of the
        deliveries that settle the last recipients, one ends the job.
        """
        job = self.get(owner, job_id)
        if job.done >= job.total_emails and not job.status.finished:
            ending = JobStatus.COMPLETED if job.sent > 0 else JobStatus.FAILED
            error = None if ending == JobStatus.COMPLETED else "no email could be sent"
            if self.move(
                owner, job_id, ending, (JobStatus.QUEUED, JobStatus.PROCESSING), error=error
            ):
                job = self.get(owner, job_id)
        return job

    def emails_page(
        self, owner: str, job_id: str, limit: int, cursor: str | None
    ) -> tuple[list[SentEmail], str | None]:
        items, next_cursor = self._page(
            emails_pk(owner, job_id), "TO#", limit, cursor, "list the job's emails"
        )
        return [SentEmail.from_item(item) for item in items], next_cursor
