"""Email-job settings, read from the environment like `horizon.settings` (cached getter).

CDK sets the same variables on the API function and on the email worker.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SENDER = "noreply@horizon.local"


class EmailSettings(BaseSettings):
    """Configuration of nonprofits, `POST /send-email` and the email worker."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    nonprofits_table: str = Field(alias="NONPROFITS_TABLE")
    email_jobs_table: str = Field(alias="EMAIL_JOBS_TABLE")
    email_queue_url: str = Field(alias="EMAIL_QUEUE_URL")

    # The verified SES identity every email is sent from, and the configuration set (event
    # publishing, reputation metrics) attached to each send; none locally.
    sender: str = Field(default=DEFAULT_SENDER, alias="EMAIL_SENDER")
    configuration_set: str | None = Field(default=None, alias="EMAIL_CONFIGURATION_SET")

    # `POST /send-email` per caller: requests per minute (counted in the shared limits table).
    rate_limit_per_minute: int = Field(default=5, alias="EMAIL_RATE_LIMIT_PER_MINUTE", gt=0)
    # Abuse limits of one job: recipients, cc addresses, template and subject size.
    max_recipients: int = Field(default=1000, alias="EMAIL_MAX_RECIPIENTS", gt=0)
    max_cc: int = Field(default=10, alias="EMAIL_MAX_CC", ge=0)
    max_template_bytes: int = Field(default=20_000, alias="EMAIL_MAX_TEMPLATE_BYTES", gt=0)
    max_subject_chars: int = Field(default=200, alias="EMAIL_MAX_SUBJECT_CHARS", gt=0)
    # Recipients per queue message: a message is one worker invocation's unit of work, small
    # enough to finish well inside the worker's timeout even with SES throttling retries.
    recipients_per_message: int = Field(default=50, alias="EMAIL_RECIPIENTS_PER_MESSAGE", gt=0)
    # Sends of one email when SES throttles (with backoff) before it counts as failed.
    send_attempts: int = Field(default=5, alias="EMAIL_SEND_ATTEMPTS", gt=0)
    # A recipient left "sending" this long ago belongs to a worker that stopped mid-send.
    sending_lease_s: int = Field(default=120, alias="EMAIL_SENDING_LEASE_S", gt=0)
    # Jobs and their sent messages expire after this.
    retention_s: int = Field(default=30 * 24 * 60 * 60, alias="EMAIL_RETENTION_S", gt=0)


@lru_cache(maxsize=1)
def get_email_settings() -> EmailSettings:
    """Return the process's email settings, read once from the environment."""
    return EmailSettings()  # type: ignore[call-arg]  # values come from the environment


def reset_email_settings() -> None:
    """Forget the cached email settings (tests and the local stack change the environment)."""
    get_email_settings.cache_clear()
