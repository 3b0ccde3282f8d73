"""Who calls: tiers, roles, the resolved caller, and the API key's public shapes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Tier(StrEnum):
    """How much a key may do: its daily quota and burst (see `IdentitySettings`)."""

    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class Role(StrEnum):
    """What a key may do: admin manages keys; member creates and runs; reader only reads."""

    ADMIN = "admin"
    MEMBER = "member"
    READER = "reader"


@dataclass(frozen=True)
class Caller:
    """The identity a request runs as.

    Attributes:
        owner: the tenant whose data the request sees (safe for storage keys).
        key_id: what is counted against the limits: a key's id, `token-…` for an
            `API_TOKENS` token, `admin` or `dev`.
        tier: the limits that apply.
        role: what the caller may do.
    """

    owner: str
    key_id: str
    tier: Tier
    role: Role


TENANT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class KeyCreate(BaseModel):
    """`POST /api/v1/keys`."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=TENANT_PATTERN, examples=["acme"])
    tier: Tier = Field(examples=["free"])
    role: Role = Field(default=Role.MEMBER, examples=["member"])
    name: str | None = Field(default=None, max_length=100, examples=["ci pipeline"])


class KeyPublic(BaseModel):
    """A key as `GET /api/v1/keys` shows it: never the secret, never its hash."""

    key_id: str
    tenant: str
    tier: Tier
    role: Role
    name: str | None = None
    created_at: str
    revoked_at: str | None = None


class KeyCreated(KeyPublic):
    """The answer to `POST /api/v1/keys`: the key itself, shown this once."""

    key: str = Field(description="Send as `X-API-Key` or `Authorization: Bearer`; shown once")


class KeyPage(BaseModel):
    keys: list[KeyPublic]
    next_cursor: str | None = None
