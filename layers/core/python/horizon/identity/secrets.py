"""API key strings: made, parsed and checked. Only a salted hash of the secret is stored.

A key reads `hzn_<key_id>_<secret>`: the id finds the stored record with one GetItem, the
secret (32 random bytes) is checked against `sha256(salt + secret)` in constant time. A fast
hash is enough for a secret of 256 random bits (there is nothing to guess); the salt keeps two
records of the same secret apart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as random

PREFIX = "hzn_"
_KEY = re.compile(r"^hzn_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$")
_KEY_ID = re.compile(r"^[a-z0-9]{16}$")


def new_key() -> tuple[str, str]:
    """Return a new (key_id, key)."""
    key_id = random.token_hex(8)
    return key_id, f"{PREFIX}{key_id}_{random.token_urlsafe(32)}"


def key_id_of(key: str) -> str | None:
    """Return the id inside a key string, or None when it is not one of ours."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def is_key_id(value: str) -> bool:
    """Whether `value` is the id of an API key (not of the admin key, a token or a JWT)."""
    return bool(_KEY_ID.match(value))


def new_salt() -> str:
    return random.token_hex(16)


def digest(key: str, salt: str) -> str:
    """The stored form of a key: hex sha256 of salt and key."""
    return hashlib.sha256(bytes.fromhex(salt) + key.encode()).hexdigest()


def matches(key: str, salt: str, stored: str) -> bool:
    """Return whether `key` is the key whose digest is `stored`, in constant time."""
    return hmac.compare_digest(digest(key, salt), stored)
