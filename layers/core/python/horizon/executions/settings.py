"""Code-execution settings, read from the environment like `horizon.settings` (cached getter).

Kept apart from the platform settings so that the sandbox worker needs only what it uses. CDK
sets the same variables on the API function and on the sandbox workers' Fargate tasks.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ExecutionSettings(BaseSettings):
    """Configuration of `/execute`, code sessions and the sandbox workers."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    executions_table: str = Field(alias="EXECUTIONS_TABLE")
    execute_queue_url: str = Field(alias="EXECUTE_QUEUE_URL")

    # `POST /execute` waits this long for the result, then answers 202 with the id to poll:
    # well inside API Gateway's 29 s integration timeout.
    wait_s: float = Field(default=20.0, alias="EXECUTE_WAIT_S", gt=0, le=25)
    # Abuse limits per owner: code size; executions unfinished (queued or running) at once,
    # past which submissions get 429; executions running at once, past which the owner's
    # others wait in the queue (so one owner cannot take the whole pool), looked at again
    # after `busy_retry_s`.
    max_code_bytes: int = Field(default=64 * 1024, alias="EXECUTIONS_MAX_CODE_BYTES", gt=0)
    max_stdin_bytes: int = Field(default=64 * 1024, alias="EXECUTIONS_MAX_STDIN_BYTES", ge=0)
    max_active_per_owner: int = Field(default=10, alias="EXECUTIONS_MAX_ACTIVE_PER_OWNER", gt=0)
    max_running_per_owner: int = Field(default=4, alias="EXECUTIONS_MAX_RUNNING_PER_OWNER", gt=0)
    busy_retry_s: int = Field(default=1, alias="EXECUTIONS_BUSY_RETRY_S", ge=0, le=60)
    # Runs of one execution when the sandbox itself fails (never for the code's own errors).
    max_attempts: int = Field(default=3, alias="EXECUTIONS_MAX_ATTEMPTS", gt=0)
    # A running execution's claim lasts its timeout plus this; a worker that vanished lets it
    # lapse, and the next delivery of the message runs the execution again.
    lease_grace_s: int = Field(default=30, alias="EXECUTIONS_LEASE_GRACE_S", gt=0)
    # A claim lapsed this long ago, or a QUEUED execution this old, means no worker will come
    # back for it (the message went to the DLQ): a read ends it FAILED.
    lost_after_s: int = Field(default=600, alias="EXECUTIONS_LOST_AFTER_S", gt=0)
    # Executions, their output and idle code sessions expire after this.
    retention_s: int = Field(default=7 * 24 * 60 * 60, alias="EXECUTIONS_RETENTION_S", gt=0)

    # The sandbox workers: isolation ("auto": namespaces where bubblewrap works, else plain)
    # and where run scratch directories go.
    sandbox_isolation: str = Field(default="auto", alias="SANDBOX_ISOLATION")
    sandbox_scratch_root: str | None = Field(default=None, alias="SANDBOX_SCRATCH_ROOT")


@lru_cache(maxsize=1)
def get_execution_settings() -> ExecutionSettings:
    """Return the process's execution settings, read once from the environment."""
    return ExecutionSettings()  # type: ignore[call-arg]  # values come from the environment


def reset_execution_settings() -> None:
    """Forget the cached execution settings (tests change the environment)."""
    get_execution_settings.cache_clear()
