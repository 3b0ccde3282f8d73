"""Uploads: a small file through the API, or a presigned POST straight to S3 for large ones.

Either way the job record is written first, then the object lands under
`uploads/{owner}/{job_id}/{name}` and the bucket's notification starts the ingest.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from horizon.clock import now_iso
from horizon.dynamo import AWS_ERRORS
from horizon.errors import DependencyError, InvalidRequestError, PayloadTooLargeError
from horizon.jobs import Job, JobStatus, JobStore
from horizon.lazy import Collaborator, aws_client
from horizon.metrics import count
from horizon.metrics import names as metric_names
from horizon.settings import get_settings
from horizon.uploads.names import STORED_CONTENT_TYPE, check_type, safe_name
from horizon.wiring import UPLOADS_PREFIX

logger = logging.getLogger(__name__)


def object_key(owner: str, job_id: str, name: str) -> str:
    """The S3 key of a job's file (the ingest reads owner and job id back from it)."""
    return f"{UPLOADS_PREFIX}{owner}/{job_id}/{name}"


def new_job(owner: str, name: str, size_bytes: int) -> Job:
    """A queued job for the file `name` of `owner`, its object key in place (not stored yet)."""
    job_id = str(uuid.uuid4())
    stamp = now_iso()
    return Job(
        owner=owner,
        job_id=job_id,
        file_name=name,
        size_bytes=size_bytes,
        object_key=object_key(owner, job_id, name),
        status=JobStatus.QUEUED,
        created_at=stamp,
        updated_at=stamp,
    )


@dataclass(frozen=True)
class PresignedUpload:
    job: Job
    url: str
    fields: dict[str, str]
    expires_in: int


class UploadService:
    """Creates ingest jobs and puts their files where the ingest finds them.

    Args:
        jobs: the job store; made lazily when omitted.
        s3: an S3 client; defaults to the shared one from `horizon.aws`.
    """

    jobs = Collaborator(JobStore)
    s3 = aws_client("s3")

    def __init__(self, jobs: JobStore | None = None, s3: Any = None) -> None:
        self._jobs = jobs
        self._s3 = s3

    def upload(self, owner: str, file_name: str, content_type: str | None, body: bytes) -> Job:
        """Create a job for a file sent through the API and store the file.

        Args:
            owner: the caller's owner.
            file_name: the name the client gave (sanitized here).
            content_type: the declared media type of the part.
            body: the file's bytes; callers read at most `max_upload_bytes + 1` of them.

        Returns:
            The queued job.

        Raises:
            UnsupportedMediaError: not a .jsonl file.
            PayloadTooLargeError: above `max_upload_bytes`.
            InvalidRequestError: empty file or unusable name.
            DependencyError: the job or the object could not be stored (the job is then
                marked failed, so no queued job waits for a file that never comes).
        """
        settings = get_settings()
        check_type(file_name, content_type)
        if len(body) > settings.max_upload_bytes:
            raise PayloadTooLargeError(
                f"files over {settings.max_upload_bytes} bytes must be uploaded with a "
                "presigned upload: POST /api/v1/files"
            )
        if not body:
            raise InvalidRequestError("the file is empty")
        job = self.jobs.create(new_job(owner, safe_name(file_name), len(body)))
        try:
            self.s3.put_object(
                Bucket=settings.uploads_bucket,
                Key=job.object_key,
                Body=body,
                ContentType=STORED_CONTENT_TYPE,
                Metadata={"owner": owner, "job-id": job.job_id},
            )
        except AWS_ERRORS as error:
            logger.exception("storing the upload of job %s failed", job.job_id)
            self.jobs.fail(owner, job.job_id, "the file could not be stored")
            raise DependencyError("could not store the file; try again") from error
        count(metric_names.JOBS_ACCEPTED)
        return job

    def presign(
        self,
        owner: str,
        file_name: str,
        size_bytes: int | None = None,
        content_type: str | None = None,
    ) -> PresignedUpload:
        """Create a job and a presigned POST the client uploads the file with.

        The policy pins the exact key and limits the size to `max_presigned_upload_bytes`;
        the ingest uses the real object size, `size_bytes` is only what the client declared.

        Raises:
            UnsupportedMediaError: not a .jsonl file.
            PayloadTooLargeError: declared size above the presigned limit.
            InvalidRequestError: unusable name or size.
            DependencyError: the job could not be stored or the URL not signed.
        """
        settings = get_settings()
        check_type(file_name, content_type)
        limit = settings.max_presigned_upload_bytes
        if size_bytes is not None and size_bytes > limit:
            raise PayloadTooLargeError(f"files over {limit} bytes are not accepted")
        if size_bytes is not None and size_bytes < 1:
            raise InvalidRequestError("size_bytes must be at least 1")
        job = self.jobs.create(new_job(owner, safe_name(file_name), size_bytes or 0))
        try:
            post = self.s3.generate_presigned_post(
                Bucket=settings.uploads_bucket,
                Key=job.object_key,
                Fields={"Content-Type": STORED_CONTENT_TYPE},
                Conditions=[
                    ["content-length-range", 1, limit],
                    {"Content-Type": STORED_CONTENT_TYPE},
                ],
                ExpiresIn=settings.presigned_url_expiry_s,
            )
        except AWS_ERRORS as error:
            self.jobs.fail(owner, job.job_id, "the upload could not be prepared")
            raise DependencyError("could not prepare the upload; try again") from error
        count(metric_names.JOBS_ACCEPTED)
        return PresignedUpload(
            job=job,
            url=post["url"],
            fields=dict(post["fields"]),
            expires_in=settings.presigned_url_expiry_s,
        )
