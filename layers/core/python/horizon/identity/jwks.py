"""A user pool's signing keys (its JWKS), fetched once per process and again for a new `kid`.

Cognito publishes the public keys of a pool at `{issuer}/.well-known/jwks.json` and rotates
them rarely, so one fetch serves a Lambda instance for its whole life. A token signed with a
key the cache has not seen makes it fetch again — but at most every `refetch_interval_s`, so
tokens with made-up `kid`s cannot turn every request into a call to Cognito.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import orjson
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from horizon.errors import DependencyError

# Cognito answers within milliseconds; an API call (29 s at most) must not hang on it.
FETCH_TIMEOUT_S = 3.0
REFETCH_INTERVAL_S = 30.0
# A pool's JWKS holds two keys (a few KB): anything much larger is not one.
MAX_JWKS_BYTES = 256 * 1024

# (url, timeout in seconds) → the document's bytes.
Fetch = Callable[[str, float], bytes]


def fetch_url(url: str, timeout_s: float) -> bytes:
    """GET `url` and return its body (at most `MAX_JWKS_BYTES`).

    Raises:
        OSError: the request failed or timed out (urllib's errors are OSErrors).
    """
    if not url.startswith(("https://", "http://")):
        raise OSError(f"not an HTTP(S) URL: {url!r}")
    # The scheme is checked above; the URL comes from the settings, never from a caller.
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
        return bytes(response.read(MAX_JWKS_BYTES))


class JwksCache:
    """The RSA signing keys of one JWKS URL, by `kid`.

    Args:
        url: where the JWKS is (`{issuer}/.well-known/jwks.json`).
        fetch: how to read it; an HTTP GET with a timeout when omitted (tests pass their own).
        timeout_s: the fetch's timeout.
        refetch_interval_s: the shortest time between two fetches for unknown `kid`s.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        url: str,
        fetch: Fetch = fetch_url,
        timeout_s: float = FETCH_TIMEOUT_S,
        refetch_interval_s: float = REFETCH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._timeout_s = timeout_s
        self._refetch_interval_s = refetch_interval_s
        self._clock = clock
        self._keys: dict[str, RSAKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str) -> RSAKey | None:
        """Return the key `kid`, fetching the JWKS first if it is unknown (see the module).

        Returns:
            The key, or None when the pool has no such key (even after a fetch).

        Raises:
            DependencyError: the JWKS could not be read or is not one.
        """
        with self._lock:
            if kid not in self._keys and self._may_fetch():
                self._keys = self._load()
            return self._keys.get(kid)

    def _may_fetch(self) -> bool:
        if self._fetched_at is None:
            return True
        return self._clock() - self._fetched_at >= self._refetch_interval_s

    def _load(self) -> dict[str, RSAKey]:
        self.fetches += 1
        try:
            raw = self._fetch(self.url, self._timeout_s)
        except (OSError, urllib.error.URLError) as error:
            raise DependencyError("could not read the user pool's signing keys") from error
        # Counted as fetched even when it fails to parse: a broken document is not re-read on
        # every request either.
        self._fetched_at = self._clock()
        try:
            document = orjson.loads(raw)
            entries = document["keys"]
            return {
                entry["kid"]: RSAKey.import_key(entry)
                for entry in entries
                if entry.get("kty") == "RSA" and entry.get("alg", "RS256") == "RS256"
            }
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, JoseError) as error:
            raise DependencyError("the user pool's signing keys are not a JWKS") from error
