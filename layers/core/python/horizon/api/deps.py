"""Request dependencies as `Annotated` aliases: the caller's owner and the services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from horizon.entries import EntryStore
from horizon.jobs import JobStore
from horizon.tenancy import bearer_token, resolve_owner
from horizon.uploads import UploadService


def current_owner(authorization: Annotated[str | None, Header()] = None) -> str:
    """Resolve the caller's owner from `Authorization: Bearer <token>`.

    Raises:
        UnauthorizedError: tokens are configured and the token is missing or unknown (401).
    """
    return resolve_owner(bearer_token(authorization))


# Stores are cheap objects over the shared, lazily made clients: one per request keeps no
# per-request state on modules.
def job_store() -> JobStore:
    return JobStore()


def entry_store() -> EntryStore:
    return EntryStore()


def upload_service() -> UploadService:
    return UploadService()


Owner = Annotated[str, Depends(current_owner)]
Jobs = Annotated[JobStore, Depends(job_store)]
Entries = Annotated[EntryStore, Depends(entry_store)]
Uploads = Annotated[UploadService, Depends(upload_service)]
