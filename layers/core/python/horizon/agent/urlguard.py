"""Which URLs a batch task may reach: http(s) only, never the cloud's metadata endpoints.

The EC2 instance metadata service (169.254.169.254, fd00:ec2::254), the ECS/Lambda credentials
endpoint (169.254.170.2) and anything else link-local answer with credentials or configuration
of the machine a task runs on. A host is resolved and refused when any of its addresses is one
of them (an attacker's DNS name may point there), and each redirect is checked again.

Inside Lambda the Runtime API (`AWS_LAMBDA_RUNTIME_API`, 127.0.0.1:9001) hands out and answers
the function's invocations: a task reaching it could steal the next event or answer one. It is
refused by host and port, so that other local ports (a page server on 127.0.0.1) stay reachable.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
RUNTIME_API_ENV = "AWS_LAMBDA_RUNTIME_API"
# Metadata endpoints outside the link-local ranges.
_METADATA = (ipaddress.ip_address("fd00:ec2::254"),)

Resolver = Callable[[str], list[str]]


class UrlRefusedError(ValueError):
    """The URL may not be fetched by a task; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    """A host and port, as `AWS_LAMBDA_RUNTIME_API` gives them (`127.0.0.1:9001`)."""

    host: str
    port: int

    @classmethod
    def parse(cls, value: str) -> Endpoint:
        """Read `host:port` (`[::1]:9001` for IPv6).

        Raises:
            ValueError: not a host and a port.
        """
        parts = urlsplit(f"//{value.strip()}")
        if not parts.hostname or parts.port is None:
            raise ValueError(f"not host:port: {value!r}")
        return cls(parts.hostname, parts.port)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def runtime_api() -> Endpoint | None:
    """Return the Lambda Runtime API's address from this process's environment, if set."""
    value = os.environ.get(RUNTIME_API_ENV)
    return Endpoint.parse(value) if value else None


def _resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise UrlRefusedError(f"could not resolve {host}: {error.strerror}") from error
    return [str(info[4][0]) for info in infos]


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address as an IP, a zone dropped and an IPv4-mapped IPv6 address as its IPv4 one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def forbidden_address(address: str) -> bool:
    """Return whether `address` (an IP literal) is a metadata or other link-local address."""
    ip = _ip(address)
    return ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip in _METADATA


def _addresses(host: str, resolve: Resolver) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return resolve(host)


def _this_machine(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # 127.0.0.0/8, ::1, and 0.0.0.0 / :: (which connect to this machine on Linux).
    return ip.is_loopback or ip.is_unspecified


def _same_host(address: str, endpoint_addresses: list[str]) -> bool:
    """Return whether a connection to `address` may reach a listener on one of those addresses.

    Every spelling of this machine counts as one host (localhost, 127.x, ::1, 0.0.0.0, ::, and
    their IPv4-mapped forms): a listener bound to one local address may answer on another.
    """
    ip = _ip(address)
    for other in map(_ip, endpoint_addresses):
        if ip == other or (_this_machine(ip) and _this_machine(other)):
            return True
    return False


def check_url(url: str, resolve: Resolver = _resolve, runtime_api: Endpoint | None = None) -> None:
    """Refuse a URL a task may not reach.

    Args:
        url: the URL.
        resolve: host → addresses (tests pass a fake).
        runtime_api: the Lambda Runtime API's address (see `runtime_api()`), refused too.

    Raises:
        UrlRefusedError: not http(s), no host, a host at a forbidden address, or the
            Runtime API's host and port.
    """
    try:
        parts = urlsplit(url)
        host, scheme = parts.hostname, parts.scheme.lower()
        port = parts.port
    except ValueError as error:
        raise UrlRefusedError(f"malformed URL {url}: {error}") from error
    if scheme not in ALLOWED_SCHEMES:
        raise UrlRefusedError(f"{url}: only http and https URLs are allowed")
    if not host:
        raise UrlRefusedError(f"{url}: the URL has no host")
    addresses = _addresses(host, resolve)
    if runtime_api is not None and (port or _DEFAULT_PORTS[scheme]) == runtime_api.port:
        runtime_addresses = _addresses(runtime_api.host, resolve)
        if any(_same_host(address, runtime_addresses) for address in addresses):
            raise UrlRefusedError(f"{url}: {runtime_api} is the Lambda Runtime API")
    for address in addresses:
        if forbidden_address(address):
            raise UrlRefusedError(f"{url}: {host} is a metadata or link-local address")
