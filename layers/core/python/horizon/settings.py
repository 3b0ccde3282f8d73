"""The one settings object, read from the environment.

CDK sets these variables on every function; the local stack sets the same ones for
the handlers it runs. Read them through `get_settings()` (cached), never at import
time, so tests and the local stack can point the code elsewhere first.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the handlers and services are configured with."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # AWS plane. AWS_ENDPOINT_URL (honoured by `horizon.aws`) points every client at moto or
    # LocalStack; unset in AWS.
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
    aws_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")

    # Resources: required, no defaults, set by CDK and by the local stack.
    jobs_table: str = Field(alias="JOBS_TABLE")
    entries_table: str = Field(alias="ENTRIES_TABLE")
    connections_table: str = Field(alias="CONNECTIONS_TABLE")
    uploads_bucket: str = Field(alias="UPLOADS_BUCKET")
    ingest_queue_url: str = Field(alias="INGEST_QUEUE_URL")
    notify_queue_url: str = Field(alias="NOTIFY_QUEUE_URL")
    # The WebSocket API's @connections endpoint: https://{api}.execute-api.{region}.amazonaws.com/{stage}
    websocket_callback_url: str = Field(alias="WEBSOCKET_CALLBACK_URL")
    # Shared by every capability: Idempotency-Key records (Powertools) and rate-limit counters.
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")
    limits_table: str = Field(alias="LIMITS_TABLE")
    keys_table: str = Field(alias="KEYS_TABLE")

    # Ingestion.
    # Uploads through the REST API travel base64-encoded inside Lambda's 6 MB synchronous
    # payload, so 4 MiB of file is the most that reliably fits; larger files use a presigned upload.
    max_upload_bytes: int = Field(default=4 * 1024 * 1024, alias="MAX_UPLOAD_BYTES", gt=0)
    max_presigned_upload_bytes: int = Field(
        default=5 * 1024 * 1024 * 1024, alias="MAX_PRESIGNED_UPLOAD_BYTES", gt=0
    )
    presigned_url_expiry_s: int = Field(default=900, alias="PRESIGNED_URL_EXPIRY_S", gt=0)
    ingest_line_delay_max_s: float = Field(default=0.0, alias="INGEST_LINE_DELAY_MAX_S", ge=0)
    # Stop reading and hand the rest to a follow-up message when less time than this remains.
    ingest_time_reserve_ms: int = Field(default=30_000, alias="INGEST_TIME_RESERVE_MS", ge=0)
    ingest_checkpoint_lines: int = Field(default=5_000, alias="INGEST_CHECKPOINT_LINES", gt=0)
    # A worker's claim on a job; a crashed worker's claim expires so a redelivery can resume.
    ingest_lease_s: int = Field(default=120, alias="INGEST_LEASE_S", gt=0)
    ingest_max_receive_count: int = Field(default=5, alias="INGEST_MAX_RECEIVE_COUNT", gt=0)
    # At completion a job's aggregates are compacted for fast queries, in passes of 100,000
    # valid entries that each read the whole segment chain: time grows with the square of the
    # job. Past this many passes (1,000,000 valid entries by default) it is skipped, so it fits
    # in the invocation; queries then merge the chain, exactly. 0: never compact.
    ingest_compact_max_passes: int = Field(default=10, alias="INGEST_COMPACT_MAX_PASSES", ge=0)

    # WebSocket connections.
    connection_ttl_s: int = Field(default=2 * 60 * 60, alias="CONNECTION_TTL_S", gt=0)
    # The WebSocket URL the web console (`/console`) connects to. Unset: derived from
    # WEBSOCKET_CALLBACK_URL when that is a deployed API (`https://` → `wss://`), else the
    # console uses its own host's `/ws` (the local stack).
    console_ws_url: str | None = Field(default=None, alias="CONSOLE_WS_URL")

    # Tenancy: "token=tenant,token2=tenant2". Empty means a single-tenant development
    # setup in which every caller is the tenant `default_owner`.
    api_tokens: str = Field(default="", alias="API_TOKENS")
    default_owner: str = Field(default="local", alias="DEFAULT_OWNER")
    # In AWS the tokens live in a Secrets Manager secret: {"token": "...", "tenant": "..."} or
    # {"tokens": {"<token>": "<tenant>", ...}}. CDK sets both of these, so a deployed API never
    # falls back to the open single-tenant mode.
    api_tokens_secret_arn: str | None = Field(default=None, alias="API_TOKENS_SECRET_ARN")
    require_api_tokens: bool = Field(default=False, alias="REQUIRE_API_TOKENS")
    # The tier of `API_TOKENS` / secret tokens: unlimited by default, as before keys existed.
    api_tokens_tier: str = Field(
        default="enterprise", alias="API_TOKENS_TIER", pattern="^(free|pro|enterprise)$"
    )

    # API keys (`horizon.identity`). The first admin key: HORIZON_ADMIN_KEY locally; in AWS a
    # generated Secrets Manager secret ({"key": "..."}) named by HORIZON_ADMIN_KEY_SECRET_ARN.
    # Either one means credentials are configured: every call then needs one.
    horizon_admin_key: str | None = Field(default=None, alias="HORIZON_ADMIN_KEY", min_length=16)
    horizon_admin_key_secret_arn: str | None = Field(
        default=None, alias="HORIZON_ADMIN_KEY_SECRET_ARN"
    )
    # The tenant an admin key's own data calls run as.
    admin_tenant: str = Field(default="admin", alias="HORIZON_ADMIN_TENANT")
    # Sign-in with Amazon Cognito (`horizon.identity.cognito`): ID and access tokens of this
    # user pool and app client are verified by the application itself, so the REST API and the
    # WebSocket `$connect` share one path. The issuer (the tokens' `iss`) defaults to the pool's
    # AWS one; the keys are read from `{issuer}/.well-known/jwks.json` unless COGNITO_JWKS_URL
    # says otherwise (the local stack: the moto endpoint). A pool makes credentials required
    # unless COGNITO_REQUIRES_CREDENTIALS is false (the local stack's open development default).
    cognito_user_pool_id: str | None = Field(default=None, alias="COGNITO_USER_POOL_ID")
    cognito_client_id: str | None = Field(default=None, alias="COGNITO_CLIENT_ID")
    cognito_issuer: str | None = Field(default=None, alias="COGNITO_ISSUER")
    cognito_jwks_url: str | None = Field(default=None, alias="COGNITO_JWKS_URL")
    cognito_requires_credentials: bool = Field(default=True, alias="COGNITO_REQUIRES_CREDENTIALS")

    # Tiers: requests per UTC day (enterprise: unlimited) and per second (the burst).
    free_requests_per_day: int = Field(default=100, alias="FREE_REQUESTS_PER_DAY", gt=0)
    pro_requests_per_day: int = Field(default=10_000, alias="PRO_REQUESTS_PER_DAY", gt=0)
    free_burst_per_s: int = Field(default=100, alias="FREE_BURST_PER_S", gt=0)
    pro_burst_per_s: int = Field(default=200, alias="PRO_BURST_PER_S", gt=0)
    enterprise_burst_per_s: int = Field(default=1_000, alias="ENTERPRISE_BURST_PER_S", gt=0)

    # CORS of the REST API (`horizon.api.cors`): the browser origins that may call it,
    # comma-separated (`https://app.example.org,https://admin.example.org`, or `*`); empty
    # means none, and no CORS headers at all.
    cors_allow_origins: str = Field(default="", alias="CORS_ALLOW_ORIGINS")
    # Let browsers send cookies / their own Authorization: only with explicit origins.
    cors_allow_credentials: bool = Field(default=False, alias="CORS_ALLOW_CREDENTIALS")
    # How long browsers may cache a preflight's answer.
    cors_max_age_s: int = Field(default=600, alias="CORS_MAX_AGE_S", ge=0, le=86_400)

    @model_validator(mode="after")
    def _no_credentials_for_any_origin(self) -> Settings:
        # With `*` and credentials every site could call with the user's credentials.
        if self.cors_allow_credentials and "*" in self.cors_origins():
            raise ValueError("CORS_ALLOW_CREDENTIALS needs explicit CORS_ALLOW_ORIGINS, not *")
        return self

    def cors_origins(self) -> tuple[str, ...]:
        """Return the allowed CORS origins parsed from `CORS_ALLOW_ORIGINS` (trailing `/`
        dropped: a browser's Origin never has one)."""
        origins = (item.strip().rstrip("/") for item in self.cors_allow_origins.split(","))
        return tuple(origin for origin in origins if origin)

    @property
    def cognito_configured(self) -> bool:
        """Whether Cognito tokens can be verified: a pool and its app client are named."""
        return bool(self.cognito_user_pool_id and self.cognito_client_id)

    def cognito_issuer_url(self) -> str:
        """The `iss` of the pool's tokens: COGNITO_ISSUER, else the pool's AWS issuer.

        Raises:
            ValueError: no pool is configured.
        """
        if not self.cognito_user_pool_id:
            raise ValueError("COGNITO_USER_POOL_ID is not set")
        if self.cognito_issuer:
            return self.cognito_issuer.rstrip("/")
        # The pool id starts with its region (us-east-1_abc), which may differ from AWS_REGION.
        region = self.cognito_user_pool_id.split("_", 1)[0] or self.aws_region
        return f"https://cognito-idp.{region}.amazonaws.com/{self.cognito_user_pool_id}"

    def cognito_jwks_endpoint(self) -> str:
        """Where the pool's signing keys are: COGNITO_JWKS_URL, else under the issuer."""
        return self.cognito_jwks_url or f"{self.cognito_issuer_url()}/.well-known/jwks.json"

    def tokens(self) -> dict[str, str]:
        """Return the bearer token → tenant map parsed from `API_TOKENS`."""
        pairs = (item.split("=", 1) for item in self.api_tokens.split(",") if "=" in item)
        return {token.strip(): tenant.strip() for token, tenant in pairs if token.strip()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process's settings, read once from the environment."""
    return Settings()  # type: ignore[call-arg]  # values come from the environment


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
