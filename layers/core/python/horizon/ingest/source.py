"""The S3 side of an ingest: open the uploaded object from a byte offset."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from horizon.dynamo import AWS_ERRORS, error_code
from horizon.ingest.exceptions import IngestDependencyError, ObjectUnavailableError
from horizon.ingest.reader import Readable

_GONE = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
_DENIED = frozenset({"AccessDenied", "403", "AllAccessDisabled", "InvalidObjectState"})


@dataclass(frozen=True)
class OpenedObject:
    """An object's body from some offset on, and the whole object's size."""

    body: Readable
    size: int


def open_object(s3: Any, bucket: str, key: str, offset: int) -> OpenedObject:
    """GET the object from `offset` on (a Range request when resuming).

    Raises:
        ObjectUnavailableError: the object is gone or may not be read (permanent).
        IngestDependencyError: S3 failed otherwise (worth a retry).
    """
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if offset > 0:
        request["Range"] = f"bytes={offset}-"
    try:
        response = s3.get_object(**request)
    except AWS_ERRORS as error:
        code = error_code(error)
        if code in _GONE:
            raise ObjectUnavailableError("the uploaded object no longer exists") from error
        if code in _DENIED:
            raise ObjectUnavailableError(
                "the uploaded object cannot be read (access denied)"
            ) from error
        if code == "InvalidRange":  # resuming exactly at the end: nothing left to read
            return OpenedObject(body=io.BytesIO(b""), size=offset)
        raise IngestDependencyError("could not read the uploaded object") from error
    return OpenedObject(body=response["Body"], size=_total_size(response, offset))


def _total_size(response: dict[str, Any], offset: int) -> int:
    # A ranged GET reports the whole size in Content-Range: "bytes 100-999/1000".
    content_range = response.get("ContentRange") or ""
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    return offset + int(response.get("ContentLength") or 0)
