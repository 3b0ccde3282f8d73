"""Which URLs a batch task may reach: http(s) only, never the cloud's metadata endpoints.

The EC2 instance metadata service (169.254.169.254, fd00:ec2::254), the ECS/Lambda credentials
endpoint (169.254.170.2) and anything else link-local answer with credentials or configuration
of the machine a task runs on. A host is resolved and refused when any of its addresses is one
of them (an attacker's DNS name may point there), and each redirect is checked again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")
# Metadata endpoints outside the link-local ranges.
_METADATA = (ipaddress.ip_address("fd00:ec2::254"),)

Resolver = Callable[[str], list[str]]


class UrlRefusedError(ValueError):
    """The URL may not be fetched by a task; the message says why."""


def _resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise UrlRefusedError(f"could not resolve {host}: {error.strerror}") from error
    return [str(info[4][0]) for info in infos]


def forbidden_address(address: str) -> bool:
    """Return whether `address` (an IP literal) is a metadata or other link-local address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip in _METADATA


def check_url(url: str, resolve: Resolver = _resolve) -> None:
    """Refuse a URL a task may not reach.

    Args:
        url: the URL.
        resolve: host → addresses (tests pass a fake).

    Raises:
        UrlRefusedError: not http(s), no host, or a host at a forbidden address.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as error:
        raise UrlRefusedError(f"malformed URL {url}: {error}") from error
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UrlRefusedError(f"{url}: only http and https URLs are allowed")
    if not host:
        raise UrlRefusedError(f"{url}: the URL has no host")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = resolve(host)
    for address in addresses:
        if forbidden_address(address):
            raise UrlRefusedError(f"{url}: {host} is a metadata or link-local address")
