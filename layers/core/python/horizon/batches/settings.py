"""Batch settings, read from the environment like `horizon.settings` (cached getter).

Kept apart from the platform settings so that the batch functions read only what they use.
CDK sets the same variables on the API, fan-out, worker and DLQ functions.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BatchSettings(BaseSettings):
    """Configuration of `/batch`, the fan-out and the batch workers."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    batches_table: str = Field(alias="BATCHES_TABLE")
    manifests_bucket: str = Field(alias="BATCH_MANIFESTS_BUCKET")
    fanout_queue_url: str = Field(alias="BATCH_FANOUT_QUEUE_URL")
    tasks_queue_url: str = Field(alias="BATCH_TASKS_QUEUE_URL")

    # What one POST may carry: more tasks → 413; a longer task → 422 naming its index.
    max_tasks: int = Field(default=1000, alias="BATCH_MAX_TASKS", gt=0, le=100_000)
    max_task_chars: int = Field(default=4096, alias="BATCH_MAX_TASK_CHARS", gt=0, le=65_536)
    max_client_ref_chars: int = Field(default=256, alias="BATCH_MAX_CLIENT_REF_CHARS", gt=0)
    # One task's time limit; the worker also keeps it inside the invocation's time left,
    # leaving `time_reserve_s` to store the outcome. With less than `min_task_s` left a task
    # is not started: its message comes back for another invocation.
    task_timeout_s: float = Field(default=60.0, alias="BATCH_TASK_TIMEOUT_S", gt=0, le=600)
    time_reserve_s: float = Field(default=10.0, alias="BATCH_TIME_RESERVE_S", ge=0)
    min_task_s: float = Field(default=5.0, alias="BATCH_MIN_TASK_S", gt=0)
    # How long a URL of a word-counting task may take to answer.
    fetch_timeout_s: float = Field(default=20.0, alias="BATCH_FETCH_TIMEOUT_S", gt=0)
    # Output kept per stream on the task record (the tail: the end says how it went).
    output_tail_chars: int = Field(default=4096, alias="BATCH_OUTPUT_TAIL_CHARS", gt=0, le=65_536)
    output_cap_bytes: int = Field(default=1024 * 1024, alias="BATCH_OUTPUT_CAP_BYTES", gt=0)
    # Runs of one task when its worker vanished mid-task (crash, timeout of the invocation).
    max_attempts: int = Field(default=3, alias="BATCH_MAX_ATTEMPTS", gt=0)
    # A transient failure brings the message back after min(cap, base × 2^(receives-1)) s.
    retry_base_s: int = Field(default=1, alias="BATCH_RETRY_BASE_S", ge=0)
    retry_cap_s: int = Field(default=60, alias="BATCH_RETRY_CAP_S", ge=0, le=43_200)
    # Batches, their tasks and their listing entries expire this long after creation.
    retention_s: int = Field(default=7 * 24 * 60 * 60, alias="BATCH_RETENTION_S", gt=0)
    # A read of a batch whose fan-out is unfinished this long after its creation (or after the
    # last re-send) sends its fan-out message again: the first one may never have been sent
    # (the API died, or SQS refused it, after the batch was stored) or its deliveries may all
    # have failed. Longer than the API's own 29 s limit, so a POST still between its write and
    # its send is left alone, and than a normal fan-out's start (seconds, with a cold start);
    # short enough that a client polling the batch sees it start within about a minute.
    fanout_grace_s: int = Field(default=60, alias="BATCH_FANOUT_GRACE_S", gt=0, le=3600)
    # Page sizes of GET /batch/{id} (tasks) and GET /batch (batches).
    default_page: int = Field(default=100, alias="BATCH_DEFAULT_PAGE", gt=0)
    max_page: int = Field(default=1000, alias="BATCH_MAX_PAGE", gt=0)


@lru_cache(maxsize=1)
def get_batch_settings() -> BatchSettings:
    """Return the process's batch settings, read once from the environment."""
    return BatchSettings()  # type: ignore[call-arg]  # values come from the environment


def reset_batch_settings() -> None:
    """Forget the cached batch settings (tests change the environment)."""
    get_batch_settings.cache_clear()
