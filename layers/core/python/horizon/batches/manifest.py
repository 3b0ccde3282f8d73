"""A batch's manifest: its tasks as posted, one JSON object in S3, read once by the fan-out.

One PUT whatever the batch's size keeps `POST /batch` fast; DynamoDB's 400 KB item limit
could not hold 1,000 tasks of a few KB each.
"""

from __future__ import annotations

from typing import Any

import orjson

from horizon.batches.models import TaskInput
from horizon.batches.settings import get_batch_settings
from horizon.dynamo import AWS_ERRORS
from horizon.errors import DependencyError
from horizon.lazy import aws_client


def manifest_key(owner: str, batch_id: str) -> str:
    return f"manifests/{owner}/{batch_id}.json"


class ManifestStore:
    """Writes and reads manifests.

    Args:
        bucket: the bucket; defaults to `BATCH_MANIFESTS_BUCKET`.
        s3: an S3 client; defaults to the shared one.
    """

    s3 = aws_client("s3")

    def __init__(self, bucket: str | None = None, s3: Any = None) -> None:
        self._bucket = bucket or get_batch_settings().manifests_bucket
        self._s3 = s3

    def put(self, owner: str, batch_id: str, tasks: list[TaskInput]) -> None:
        body = orjson.dumps([task.model_dump(exclude_none=True) for task in tasks])
        try:
            self.s3.put_object(
                Bucket=self._bucket,
                Key=manifest_key(owner, batch_id),
                Body=body,
                ContentType="application/json",
            )
        except AWS_ERRORS as error:
            raise DependencyError("could not store the batch's tasks") from error

    def get(self, owner: str, batch_id: str) -> list[TaskInput]:
        try:
            body = self.s3.get_object(Bucket=self._bucket, Key=manifest_key(owner, batch_id))[
                "Body"
            ].read()
        except AWS_ERRORS as error:
            raise DependencyError("could not read the batch's tasks") from error
        return [TaskInput.model_validate(item) for item in orjson.loads(body)]
