"""Request dependencies as `Annotated` aliases: the caller's owner and the services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from horizon.entries import EntryStore
from horizon.errors import InvalidRequestError
from horizon.idempotency import MAX_KEY_LENGTH, is_valid_key
from horizon.jobs import JobStore
from horizon.tenancy import bearer_token, resolve_owner
from horizon.uploads import UploadService


def current_owner(authorization: Annotated[str | None, Header()] = None) -> str:
    """Resolve the caller's owner from `Authorization: Bearer <token>`.

    Raises:
        UnauthorizedError: tokens are configured and the token is missing or unknown (401).
    """
    return resolve_owner(bearer_token(authorization))


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="The same key and body within 24 h answer the same and run once",
            max_length=MAX_KEY_LENGTH,
        ),
    ] = None,
) -> str | None:
    """Return the request's `Idempotency-Key`, or None when it has none.

    Raises:
        InvalidRequestError: the key is not 1–255 visible ASCII characters (422).
    """
    if key is not None and not is_valid_key(key):
        raise InvalidRequestError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
        )
    return key


# Stores are cheap objects over the shared, lazily made clients: one per request keeps no
# per-request state on modules.
def job_store() -> JobStore:
    return JobStore()


def entry_store() -> EntryStore:
    return EntryStore()


def upload_service() -> UploadService:
    return UploadService()


Owner = Annotated[str, Depends(current_owner)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
Jobs = Annotated[JobStore, Depends(job_store)]
Entries = Annotated[EntryStore, Depends(entry_store)]
Uploads = Annotated[UploadService, Depends(upload_service)]
