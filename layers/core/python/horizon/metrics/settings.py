"""Metrics settings, read from the environment like `horizon.settings` (cached getter).

Kept apart from the platform settings: every process that publishes (Lambda functions, the
sandbox's Fargate tasks, tools) needs only this, not every table's name.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from horizon.metrics.names import DEFAULT_NAMESPACE, NAMESPACE_ENV


class MetricsSettings(BaseSettings):
    """Where business metrics go."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Powertools' own variable, so its documentation applies as it is.
    namespace: str = Field(default=DEFAULT_NAMESPACE, alias=NAMESPACE_ENV, min_length=1)


@lru_cache(maxsize=1)
def get_metrics_settings() -> MetricsSettings:
    """Return the process's metrics settings, read once from the environment."""
    return MetricsSettings()


def reset_metrics_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_metrics_settings.cache_clear()
