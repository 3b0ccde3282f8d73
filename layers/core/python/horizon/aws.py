"""The one place that makes AWS clients: lazily, once per process, honouring AWS_ENDPOINT_URL.

Every store and service takes its client as an optional argument and falls back to these,
so tests and the local stack point the same factory at moto instead of patching.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from horizon.settings import get_settings

_lock = threading.Lock()

# Retries with jitter for throttling; connection pool sized for the pollers' threads.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def _cached_client(service: str, endpoint_url: str | None, region: str) -> Any:
    with _lock:  # boto3 session client creation is not thread-safe
        return _session().client(
            service, endpoint_url=endpoint_url, region_name=region, config=_CONFIG
        )


def client(service: str, endpoint_url: str | None = None) -> Any:
    """Return the shared boto3 client for `service`.

    Args:
        service: the boto3 service name, e.g. "dynamodb".
        endpoint_url: overrides the endpoint (the @connections API has its own);
            otherwise `AWS_ENDPOINT_URL` from the settings, or AWS itself.
    """
    settings = get_settings()
    return _cached_client(service, endpoint_url or settings.aws_endpoint_url, settings.aws_region)


def reset_clients() -> None:
    """Forget every cached client (after the environment changed)."""
    _cached_client.cache_clear()
    _session.cache_clear()
