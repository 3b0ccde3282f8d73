"""The jobs table adapter: the only code that knows how a job is stored.

Every method takes the owner: a job of another owner is indistinguishable from a missing one.
Progress is written with conditions on the worker's lease and on the previous offset, so a
redelivered or duplicated ingest can never move the counts twice.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from horizon.clock import epoch_s, now_iso
from horizon.dynamo import (
    AWS_ERRORS,
    deserialize,
    is_conditional_failure,
    serialize,
    serialize_value,
)
from horizon.errors import ConflictError, DependencyError, InvalidRequestError, NotFoundError
from horizon.jobs.exceptions import JobFinishedError, JobLeasedError, LeaseLostError
from horizon.jobs.models import Job, JobCounts, JobStatus
from horizon.lazy import aws_client
from horizon.settings import get_settings


def _values(**values: Any) -> dict[str, Any]:
    return {f":{name}": serialize_value(value) for name, value in values.items()}


class JobStore:
    """Reads and writes job items.

    Args:
        table: the table name; defaults to `JOBS_TABLE` from the settings.
        client: a DynamoDB client; defaults to the shared one from `horizon.aws`.
    """

    client = aws_client("dynamodb")

    def __init__(self, table: str | None = None, client: Any = None) -> None:
        self._table = table or get_settings().jobs_table
        self._client = client

    def _key(self, owner: str, job_id: str) -> dict[str, Any]:
        return serialize({"owner": owner, "job_id": job_id})

    def create(self, job: Job) -> Job:
        """Store a new job. Raises ConflictError if the id is taken."""
        try:
            self.client.put_item(
                TableName=self._table,
                Item=serialize(job.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except AWS_ERRORS as error:
            if is_conditional_failure(error):
                raise ConflictError(f"job {job.job_id} already exists") from error
            raise DependencyError("could not store the job") from error
        return job

    def get(self, owner: str, job_id: str) -> Job:
        """Return the owner's job. Raises NotFoundError."""
        try:
            response = self.client.get_item(
                TableName=self._table, Key=self._key(owner, job_id), ConsistentRead=True
            )
        except AWS_ERRORS as error:
            raise DependencyError("could not read the job") from error
        if "Item" not in response:
            raise NotFoundError(f"job {job_id} not found")
        return Job.model_validate(deserialize(response["Item"]))

    def list(
        self, owner: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        """Return a page of the owner's jobs and the cursor of the next page (None at the end)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": _values(owner=owner),
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = self._key(owner, _decode_cursor(cursor))
        try:
            response = self.client.query(**request)
        except AWS_ERRORS as error:
            raise DependencyError("could not list jobs") from error
        jobs = [Job.model_validate(deserialize(item)) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        next_cursor = _encode_cursor(deserialize(last)["job_id"]) if last else None
        return jobs, next_cursor

    def claim(self, owner: str, job_id: str, worker: str, lease_s: int) -> Job:
        """Take the job's lease for `worker` and mark it processing.

        Raises:
            NotFoundError: no such job.
            JobFinishedError: already completed or failed.
            JobLeasedError: another worker's lease has not expired.
        """
        now = epoch_s()
        stamp = now_iso()
        try:
            response = self.client.update_item(
                TableName=self._table,
                Key=self._key(owner, job_id),
                UpdateExpression=(
                    "SET #status = :processing, lease_owner = :worker, lease_expires_at = :expires, "
                    "updated_at = :stamp, started_at = if_not_exists(started_at, :stamp), "
                    "seq = seq + :one"
                ),
                ConditionExpression=(
                    "attribute_exists(job_id) AND #status IN (:queued, :processing) AND "
                    "(attribute_not_exists(lease_owner) OR lease_owner = :worker "
                    "OR lease_expires_at < :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_values(
                    processing=JobStatus.PROCESSING.value,
                    queued=JobStatus.QUEUED.value,
                    worker=worker,
                    expires=now + lease_s,
                    stamp=stamp,
                    now=now,
                    one=1,
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except AWS_ERRORS as error:
            if not is_conditional_failure(error):
                raise DependencyError("could not claim the job") from error
            old = getattr(error, "response", {}).get("Item")
            if not old:
                raise NotFoundError(f"job {job_id} not found") from error
            current = Job.model_validate(deserialize(old))
            if current.status.finished:
                raise JobFinishedError(f"job {job_id} is {current.status.value}") from error
            raise JobLeasedError(f"job {job_id} is being processed by another worker") from error
        return Job.model_validate(deserialize(response["Attributes"]))

    def checkpoint(self, job: Job, worker: str, counts: JobCounts, lease_s: int) -> Job:
        """Record progress from `job.counts` to `counts` and extend the lease.

        The write holds only if this worker still has the lease and nobody moved the offset
        since `job` was read, so counts are set absolutely and never twice.

        Raises:
            LeaseLostError: the lease or the offset changed.
        """
        return self._write_progress(
            job,
            worker,
            "SET #counts = :counts, seq = seq + :one, updated_at = :stamp, "
            "lease_expires_at = :expires",
            {},
            _values(
                counts=counts.model_dump(),
                one=1,
                stamp=now_iso(),
                expires=epoch_s() + lease_s,
            ),
        )

    def finish(
        self,
        job: Job,
        worker: str,
        status: JobStatus,
        counts: JobCounts,
        error: str | None = None,
    ) -> Job:
        """End the job as completed or failed with its final counts and release the lease.

        Raises:
            LeaseLostError: the lease or the offset changed.
        """
        if not status.finished:
            raise InvalidRequestError(f"{status.value} is not a final status")
        stamp = now_iso()
        expression = (
            "SET #counts = :counts, #status = :status, seq = seq + :one, updated_at = :stamp, "
            "finished_at = :stamp REMOVE lease_owner, lease_expires_at"
        )
        names = {"#status": "status"}
        values = _values(counts=counts.model_dump(), status=status.value, one=1, stamp=stamp)
        if error is not None:
            expression = expression.replace(
                "finished_at = :stamp", "finished_at = :stamp, #error = :error"
            )
            names["#error"] = "error"
            values.update(_values(error=error))
        return self._write_progress(job, worker, expression, names, values)

    def record_size(self, job: Job, worker: str, size_bytes: int) -> Job:
        """Set the job's size to the object's real size (a presigned upload declares none).

        Raises:
            LeaseLostError: this worker no longer holds the job.
        """
        return self._write_progress(
            job,
            worker,
            "SET size_bytes = :size, updated_at = :stamp",
            {},
            _values(size=size_bytes, stamp=now_iso()),
        )

    def release(self, job: Job, worker: str) -> None:
        """Give up the lease without changing progress (the next message takes over)."""
        try:
            self.client.update_item(
                TableName=self._table,
                Key=self._key(job.owner, job.job_id),
                UpdateExpression="REMOVE lease_owner, lease_expires_at",
                ConditionExpression="lease_owner = :worker",
                ExpressionAttributeValues=_values(worker=worker),
            )
        except AWS_ERRORS as error:
            if not is_conditional_failure(error):
                raise DependencyError("could not release the job") from error

    def fail(self, owner: str, job_id: str, reason: str) -> Job | None:
        """Mark an unfinished job failed, whoever holds it (used when retries are exhausted).

        Returns the failed job, or None when it had already finished or does not exist.
        """
        stamp = now_iso()
        try:
            response = self.client.update_item(
                TableName=self._table,
                Key=self._key(owner, job_id),
                UpdateExpression=(
                    "SET #status = :failed, #error = :reason, seq = seq + :one, "
                    "updated_at = :stamp, finished_at = :stamp REMOVE lease_owner, lease_expires_at"
                ),
                ConditionExpression="attribute_exists(job_id) AND #status IN (:queued, :processing)",
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues=_values(
                    failed=JobStatus.FAILED.value,
                    reason=reason,
                    one=1,
                    stamp=stamp,
                    queued=JobStatus.QUEUED.value,
                    processing=JobStatus.PROCESSING.value,
                ),
                ReturnValues="ALL_NEW",
            )
        except AWS_ERRORS as error:
            if is_conditional_failure(error):
                return None
            raise DependencyError("could not mark the job failed") from error
        return Job.model_validate(deserialize(response["Attributes"]))

    def _write_progress(
        self,
        job: Job,
        worker: str,
        expression: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> Job:
        values.update(_values(worker=worker, offset=job.counts.offset))
        try:
            response = self.client.update_item(
                TableName=self._table,
                Key=self._key(job.owner, job.job_id),
                UpdateExpression=expression,
                ConditionExpression="lease_owner = :worker AND #counts.#offset = :offset",
                ExpressionAttributeNames={**names, "#counts": "counts", "#offset": "offset"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except AWS_ERRORS as error:
            if is_conditional_failure(error):
                raise LeaseLostError(f"job {job.job_id}: lease lost or progress moved") from error
            raise DependencyError("could not record the job's progress") from error
        return Job.model_validate(deserialize(response["Attributes"]))


def _encode_cursor(job_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"job_id": job_id})).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        return str(orjson.loads(base64.urlsafe_b64decode(cursor.encode()))["job_id"])
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidRequestError("invalid cursor") from error
