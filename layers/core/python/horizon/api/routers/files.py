"""Log file uploads: through the API (small files) or a presigned POST (large files)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status

from horizon.api.deps import Owner, Uploads
from horizon.api.models import (
    PresignCreate,
    PresignCreated,
    PresignedPost,
    UploadAccepted,
    job_links,
)
from horizon.api.openapi import error_responses
from horizon.settings import get_settings

router = APIRouter(prefix="/api/v1/files", tags=["files"])


@router.post(
    "/upload",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadAccepted,
    responses=error_responses(413, 415),
)
async def upload_file(
    owner: Owner, uploads: Uploads, file: Annotated[UploadFile, File()]
) -> UploadAccepted:
    """Upload a `.jsonl` log file (up to MAX_UPLOAD_BYTES); its ingest starts right away.

    415 for another type, 413 when too large (use `POST /api/v1/files`), 422 when empty.
    """
    # One byte over the limit is enough to know the file is too large.
    body = await file.read(get_settings().max_upload_bytes + 1)
    job = uploads.upload(owner, file.filename or "", file.content_type, body)
    return UploadAccepted(
        job_id=job.job_id,
        status=job.status,
        file_name=job.file_name,
        size_bytes=job.size_bytes,
        links=job_links(job.job_id),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PresignCreated,
    responses=error_responses(413, 415),
)
def create_upload(owner: Owner, uploads: Uploads, request: PresignCreate) -> PresignCreated:
    """Create a job and a presigned POST for uploading a large file straight to S3.

    POST the file to `upload.url` as multipart form data with every field of
    `upload.fields` followed by the `file` field; the ingest starts when S3 has it.
    """
    presigned = uploads.presign(owner, request.file_name, request.size_bytes, request.content_type)
    job = presigned.job
    return PresignCreated(
        job_id=job.job_id,
        status=job.status,
        file_name=job.file_name,
        upload=PresignedPost(
            url=presigned.url, fields=presigned.fields, expires_in=presigned.expires_in
        ),
        links=job_links(job.job_id),
    )
