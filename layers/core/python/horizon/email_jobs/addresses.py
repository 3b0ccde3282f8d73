"""Email addresses: validated with a conservative pattern and normalised, without any network.

The local part is kept as written (it may be case-sensitive by RFC 5321); the domain is
lower-cased. Addresses are limited to what mail systems reliably accept: dot-atoms only (no
quoted local parts, no IP literals), ASCII, 254 characters at most, 64 for the local part,
and a domain of at least two labels of letters, digits and inner hyphens.
"""

from __future__ import annotations

import re

from horizon.errors import InvalidRequestError

MAX_ADDRESS_CHARS = 254
MAX_LOCAL_CHARS = 64
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]{2,}$|^xn--[a-z0-9-]+$")


def normalize(address: str) -> str:
    """Return `address` validated and normalised (surrounding spaces gone, domain lower-case).

    Raises:
        InvalidRequestError: not an address this platform sends to (422).
    """
    value = address.strip()
    local, at, domain = value.rpartition("@")
    domain = domain.lower()
    valid = (
        bool(at)
        and len(value) <= MAX_ADDRESS_CHARS
        and 0 < len(local) <= MAX_LOCAL_CHARS
        and value.isascii()
        and bool(_LOCAL.fullmatch(local))
        and is_domain(domain)
    )
    if not valid:
        raise InvalidRequestError(f"{address[:MAX_ADDRESS_CHARS]!r} is not a valid email address")
    return f"{local}@{domain}"


def is_domain(domain: str) -> bool:
    """Return whether `domain` (lower-case) is a domain of two labels or more."""
    labels = domain.split(".")
    return (
        domain.isascii()
        and len(domain) <= 253
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and bool(_TLD.fullmatch(labels[-1]))
    )


def domain_of(address: str) -> str:
    """Return the domain of a normalised address."""
    return address.rpartition("@")[2]
