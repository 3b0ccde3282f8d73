"""Who calls and how much they may: credentials → `Caller`, keys, tiers and their limits.

One place resolves every credential, for the REST API and the WebSocket `$connect` alike:
- an API key `hzn_<id>_<secret>` (`POST /api/v1/keys`), read by id (a REST request's
  instance may use its copy of the record: the same conditional write that counts the request
  refuses a revoked key, whose revocation blocked its counters), so a revoked key is refused
  from its next call on;
- the admin key (`HORIZON_ADMIN_KEY`, or in AWS the generated secret of
  `HORIZON_ADMIN_KEY_SECRET_ARN`), role admin, tenant `HORIZON_ADMIN_TENANT`;
- a token of `API_TOKENS` or the tokens secret (today's tokens keep working): role member,
  tier `API_TOKENS_TIER`;
- a JWT of the Cognito user pool (`COGNITO_USER_POOL_ID`, `horizon.identity.cognito`): a
  person signed in, tenant, role and tier from the token's claims.
With none of those configured and `REQUIRE_API_TOKENS` unset (the local default), a call
without a credential is the development tenant; once any is configured, every call needs one
(a pool only when `COGNITO_REQUIRES_CREDENTIALS`, so that the local stack's pool leaves
`make up` open). A credential that is presented is always checked.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Any

import orjson

from horizon.clock import now_iso
from horizon.errors import DependencyError
from horizon.identity import secrets
from horizon.identity.cognito import CognitoVerifier, looks_like_jwt, verifier_for
from horizon.identity.models import Caller, KeyCreate, KeyCreated, KeyPage, KeyPublic, Role, Tier
from horizon.identity.store import KeyStore
from horizon.lazy import Collaborator
from horizon.ratelimit import BlockedError, Limit, RateLimiter, Usage
from horizon.settings import Settings, get_settings
from horizon.tenancy import UnauthorizedError, configured_tokens, is_safe_owner, read_secret

DAY_S = 86_400
ADMIN_KEY_ID = "admin"
DEVELOPMENT_KEY_ID = "dev"


class IdentityService:
    """Authenticates callers, counts their requests, and manages API keys.

    Args:
        store: the keys table; the shared one when omitted.
        limiter: the rate limiter; the shared one when omitted.
        settings: the process's settings when omitted.
        verifier: the Cognito token verifier; the process's one of the configured pool when
            omitted.
    """

    store = Collaborator(KeyStore)
    limiter = Collaborator(RateLimiter)

    def __init__(
        self,
        store: KeyStore | None = None,
        limiter: RateLimiter | None = None,
        settings: Settings | None = None,
        verifier: CognitoVerifier | None = None,
    ) -> None:
        self._store = store
        self._limiter = limiter
        self.settings = settings or get_settings()
        self._verifier = verifier

    # -- who calls ---------------------------------------------------------------------------

    def authenticate(self, credential: str | None, *, counted_next: bool = False) -> Caller:
        """Return the caller that `credential` stands for.

        Args:
            counted_next: the caller's request is counted next (`count_request`), which refuses
                a revoked key: an API key may then be checked against this instance's copy of
                its record (its secret's digest, tenant, tier and role never change), saving
                the GetItem. Without it the record is read every time (the WebSocket's
                `$connect`, which counts nothing).

        Raises:
            UnauthorizedError: credentials are configured and this one is missing, unknown or
                revoked; or it is a Cognito token that does not verify (the detail says why).
            DependencyError: the keys table, a secret or the pool's signing keys could not be
                read.
            ValueError: a configured tenant is not safe for storage keys (a deployment error).
        """
        if credential:
            verifier = self._cognito()
            if verifier is not None and looks_like_jwt(credential):
                # No key or token is shaped like a JWT: its own checks say what is wrong.
                caller: Caller | None = verifier.verify(credential)
            else:
                caller = self._by_key(credential, counted_next) or self._by_admin_key(credential)
                caller = caller or self._by_token(credential)
            if caller is not None:
                if not is_safe_owner(caller.owner):
                    raise ValueError(f"tenant {caller.owner!r} is not safe for storage keys")
                return caller
            raise UnauthorizedError("invalid or revoked API key")
        if self.credentials_configured():
            raise UnauthorizedError(
                "an API key or a Cognito token is required (X-API-Key or Authorization: Bearer)"
            )
        return Caller(self.settings.default_owner, DEVELOPMENT_KEY_ID, Tier.ENTERPRISE, Role.ADMIN)

    def credentials_configured(self) -> bool:
        """Whether calls must carry a credential (any is configured, or CDK requires one)."""
        settings = self.settings
        return bool(
            settings.require_api_tokens
            or settings.horizon_admin_key
            or settings.horizon_admin_key_secret_arn
            or (settings.cognito_configured and settings.cognito_requires_credentials)
            or configured_tokens()
        )

    def _cognito(self) -> CognitoVerifier | None:
        return self._verifier or verifier_for(self.settings)

    def _by_key(self, credential: str, cached: bool = False) -> Caller | None:
        key_id = secrets.key_id_of(credential)
        if key_id is None:
            return None
        record = _known_keys.get(key_id) if cached else None
        if record is None:
            record = self._current_record(key_id)
        if record is None or not secrets.matches(credential, record["salt"], record["digest"]):
            return None
        return Caller(record["tenant"], key_id, Tier(record["tier"]), Role(record["role"]))

    def _current_record(self, key_id: str) -> dict[str, Any] | None:
        """The key's record read now (None when unknown or revoked), kept for `counted_next`."""
        record = self.store.get(key_id)
        if record is None or record.get("revoked_at"):
            _known_keys.forget(key_id)
            return None
        _known_keys.keep(key_id, record)
        return record

    def _by_admin_key(self, credential: str) -> Caller | None:
        admin_key = self._admin_key()
        if admin_key and hmac.compare_digest(admin_key.encode(), credential.encode()):
            return Caller(self.settings.admin_tenant, ADMIN_KEY_ID, Tier.ENTERPRISE, Role.ADMIN)
        return None

    def _admin_key(self) -> str | None:
        if self.settings.horizon_admin_key:
            return self.settings.horizon_admin_key
        arn = self.settings.horizon_admin_key_secret_arn
        if not arn:
            return None
        try:
            key = orjson.loads(read_secret(arn, "the admin key"))["key"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            raise DependencyError('the admin key secret must be {"key": "..."}') from error
        return str(key) if key else None

    def _by_token(self, credential: str) -> Caller | None:
        owner = ""
        # Compared with every token in constant time, so timing reveals none of them.
        for known, tenant in configured_tokens().items():
            if hmac.compare_digest(known.encode(), credential.encode()):
                owner = tenant
        if not owner:
            return None
        digest = hashlib.sha256(credential.encode()).hexdigest()[:16]
        return Caller(owner, f"token-{digest}", Tier(self.settings.api_tokens_tier), Role.MEMBER)

    # -- how much they may -------------------------------------------------------------------

    def limits(self, tier: Tier) -> list[Limit]:
        """The limits of a tier: a burst per second, and a daily quota except for enterprise."""
        settings = self.settings
        if tier is Tier.FREE:
            return [
                Limit("free tier burst", settings.free_burst_per_s, 1),
                Limit("free tier daily quota", settings.free_requests_per_day, DAY_S),
            ]
        if tier is Tier.PRO:
            return [
                Limit("pro tier burst", settings.pro_burst_per_s, 1),
                Limit("pro tier daily quota", settings.pro_requests_per_day, DAY_S),
            ]
        return [Limit("enterprise tier burst", settings.enterprise_burst_per_s, 1)]

    def count_request(self, caller: Caller) -> Usage:
        """Count one request of `caller` against its tier's limits.

        Returns:
            The usage of the tier's longest limit (the daily quota; enterprise: the burst), for
            the `X-RateLimit-*` headers: what a caller plans by. A refused burst tells about
            itself (its 429 carries its own figures).

        Raises:
            LimitExceededError: over a limit (429 with Retry-After).
        """
        limits = self.limits(caller.tier)
        counted = [*limits, UNBOUNDED_DAY] if len(limits) == 1 else limits
        is_api_key = secrets.is_key_id(caller.key_id)  # not the admin key, a token or a JWT

        def still_valid() -> None:
            # The first request of the key's day: its record is read again, so a key revoked
            # before the day's counter existed (it holds the revocation's block) is refused.
            if self._current_record(caller.key_id) is None:
                raise UnauthorizedError("invalid or revoked API key")

        try:
            usages = self.limiter.hit_all(
                f"key#{caller.key_id}", counted, still_valid if is_api_key else None
            )
        except BlockedError as error:
            _known_keys.forget(caller.key_id)
            raise UnauthorizedError("invalid or revoked API key") from error
        return usages[max(limits, key=lambda limit: limit.window_s)]

    # -- keys --------------------------------------------------------------------------------

    def create_key(self, body: KeyCreate) -> KeyCreated:
        """Make a key; its secret is returned now and never again."""
        key_id, key = secrets.new_key()
        salt = secrets.new_salt()
        public = KeyPublic(
            key_id=key_id,
            tenant=body.tenant,
            tier=body.tier,
            role=body.role,
            name=body.name,
            created_at=now_iso(),
        )
        self.store.put(
            {**public.model_dump(mode="json"), "salt": salt, "digest": secrets.digest(key, salt)}
        )
        return KeyCreated(**public.model_dump(), key=key)

    def list_keys(self, limit: int, cursor: str | None) -> KeyPage:
        records, next_cursor = self.store.page(limit, cursor)
        return KeyPage(keys=[_public(record) for record in records], next_cursor=next_cursor)

    def revoke_key(self, key_id: str) -> KeyPublic:
        """Revoke a key at once: its record says so, and its request counters are blocked, so
        an instance that knows the key refuses it on its next request too.

        Raises:
            NotFoundError: no such key.
            DependencyError: the counters could not be blocked (revoking again finishes it).
        """
        record = self.store.revoke(key_id)
        limits = self.limits(Tier(record["tier"]))
        self.limiter.block(
            f"key#{key_id}", [*limits, UNBOUNDED_DAY] if len(limits) == 1 else limits
        )
        _known_keys.forget(key_id)
        return _public(record)


# Enterprise keys have no daily quota; their requests are still counted per day, so that the
# day's counter carries a revocation (see `count_request`) like the other tiers'.
UNBOUNDED_DAY = Limit("daily count", 2**62, DAY_S)


class _KnownKeys:
    """This instance's copies of key records, for requests counted next (see `authenticate`).
    Bounded: past `MAX` keys it starts again (a record costs one GetItem to read back)."""

    MAX = 10_000

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key_id: str) -> dict[str, Any] | None:
        return self._records.get(key_id)

    def keep(self, key_id: str, record: dict[str, Any]) -> None:
        with self._lock:
            if len(self._records) >= self.MAX:
                self._records.clear()
            self._records[key_id] = record

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._records.pop(key_id, None)


_known_keys = _KnownKeys()


def _public(record: dict[str, object]) -> KeyPublic:
    return KeyPublic.model_validate({field: record.get(field) for field in KeyPublic.model_fields})
