"""API keys (admin): create, list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from horizon.api.deps import Admin
from horizon.identity import IdentityService
from horizon.identity.models import KeyCreate, KeyCreated, KeyPage, KeyPublic

router = APIRouter(prefix="/api/v1/keys", tags=["api keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
def create_key(admin: Admin, body: KeyCreate) -> KeyCreated:
    """Make an API key for a tenant, with a tier and a role. The key is in this answer only:
    only a salted digest of it is stored."""
    return IdentityService().create_key(body)


@router.get("", response_model=KeyPage)
def list_keys(
    admin: Admin,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> KeyPage:
    """Every key's metadata (never the key, never its digest), a page at a time."""
    return IdentityService().list_keys(limit, cursor)


@router.delete("/{key_id}", response_model=KeyPublic)
def revoke_key(admin: Admin, key_id: str) -> KeyPublic:
    """Revoke a key: its next call gets 401."""
    return IdentityService().revoke_key(key_id)
