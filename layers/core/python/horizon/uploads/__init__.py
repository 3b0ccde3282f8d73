"""Uploads of log files: through the API (small) or a presigned POST to S3 (large)."""

from horizon.uploads.names import CONTENT_TYPES, EXTENSIONS, check_type, safe_name
from horizon.uploads.service import PresignedUpload, UploadService, new_job, object_key

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "PresignedUpload",
    "UploadService",
    "check_type",
    "new_job",
    "object_key",
    "safe_name",
]
