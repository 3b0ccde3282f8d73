"""The local AWS plane: an embedded moto server, or an external endpoint such as LocalStack.

Every table, queue and bucket of the wiring, and its user pool, is created on it with
`local.provision.provision`.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3

from local import moto_fixes
from local.moto_server import EmbeddedMotoServer
from local.provision import Provisioned, provision

log = logging.getLogger(__name__)

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
DEFAULT_VISIBILITY_TIMEOUT_S = 10
_embedded_started = False


def _unique_prefix() -> str:
    return f"horizon-{uuid.uuid4().hex[:8]}"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on `host` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def visibility_timeout_from_env() -> int:
    """Return LOCAL_VISIBILITY_TIMEOUT_S (default 10 s): the queues' visibility timeout locally.

    AWS's is 6× the consumer's timeout (half an hour for ingest); locally a failed message
    should come back in seconds.

    Raises:
        ValueError: the variable is not a positive integer.
    """
    raw = os.environ.get("LOCAL_VISIBILITY_TIMEOUT_S", str(DEFAULT_VISIBILITY_TIMEOUT_S))
    value = int(raw)
    if value <= 0:
        raise ValueError(f"LOCAL_VISIBILITY_TIMEOUT_S must be positive, got {raw!r}")
    return value


@dataclass
class AwsPlane:
    """A started AWS plane with the wiring provisioned on it."""

    endpoint_url: str
    region: str
    provisioned: Provisioned
    prefix: str
    _server: EmbeddedMotoServer | None = field(default=None, repr=False)

    @property
    def embedded(self) -> bool:
        """True when this process runs the moto server itself."""
        return self._server is not None

    def client(self, service: str) -> Any:
        """Return a new boto3 client for `service` at this plane (safe from any thread)."""
        # A session of its own: boto3's default session is not thread-safe when making clients.
        session = boto3.session.Session()
        return session.client(service, endpoint_url=self.endpoint_url, region_name=self.region)

    def reachable(self) -> bool:
        """Return whether the plane answers a cheap call (for the health endpoint)."""
        try:
            self.client("sqs").list_queues(MaxResults=1)
        except Exception:  # any failure means "not reachable" here
            return False
        return True

    def stop(self) -> None:
        """Stop the embedded moto server, if this plane started one."""
        if self._server is not None:
            self._server.stop()
            self._server = None


def start_aws_plane(
    region: str = "us-east-1",
    endpoint_url: str | None = None,
    prefix: str | None = None,
    visibility_timeout_s: int | None = None,
) -> AwsPlane:
    """Start (or attach to) an AWS plane and provision the wiring on it.

    Args:
        region: the region of every client.
        endpoint_url: an external endpoint (LocalStack); None starts moto on 127.0.0.1.
        prefix: the start of every resource name; default LOCAL_RESOURCE_PREFIX, else
            "horizon" on the process's first embedded moto, else a unique "horizon-xxxxxxxx"
            (moto's state is shared by a process's servers). With the same prefix on the same
            external endpoint, a restarted stack reuses what the earlier run created.
        visibility_timeout_s: the queues' visibility timeout (default LOCAL_VISIBILITY_TIMEOUT_S).

    Returns:
        The plane, with the handlers' environment in `provisioned.env`.

    Raises:
        botocore.exceptions.ClientError: provisioning failed.
    """
    server: EmbeddedMotoServer | None = None
    prefix = prefix or os.environ.get("LOCAL_RESOURCE_PREFIX") or None
    if endpoint_url is None:
        # moto accepts any credentials; set fake ones so that real ones are never used.
        os.environ.update(FAKE_CREDENTIALS)
        port = free_port()
        moto_fixes.apply()
        server = EmbeddedMotoServer("127.0.0.1", port)
        server.start()
        endpoint_url = f"http://127.0.0.1:{port}"
        # moto keeps its state per process, not per server: a second embedded plane in the
        # same process (tests) sees the first one's resources, so it needs names of its own.
        global _embedded_started
        prefix = prefix or ("horizon" if not _embedded_started else _unique_prefix())
        _embedded_started = True
    else:
        for name, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(name, value)
        prefix = prefix or _unique_prefix()
    timeout = visibility_timeout_s or visibility_timeout_from_env()
    try:
        clients = {
            name: boto3.client(name, endpoint_url=endpoint_url, region_name=region)
            for name in ("dynamodb", "sqs", "s3", "ses", "cognito-idp")
        }
        provisioned = provision(clients, prefix=prefix, region=region, visibility_timeout_s=timeout)
    except Exception:
        if server is not None:
            server.stop()
        raise
    log.info("AWS plane at %s, resources prefixed %r", endpoint_url, prefix)
    return AwsPlane(endpoint_url, region, provisioned, prefix, server)
