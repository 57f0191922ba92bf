"""A short-lived memory of keys that authenticated, in front of the shared key store.

Every request carries a key, and checking it costs database round trips
that dominate a single POST. Answers are remembered for a few seconds
(INTAKE_KEY_CACHE_SECONDS; 0 turns this off), so a revoked key stops
working within that time. Only a SHA-256 of each key is held, never the key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from shared.auth import Principal
from shared.auth.store import KeyStore

MAX_ENTRIES = 10_000


class CachedKeyStore(KeyStore):
    def __init__(self, store: KeyStore, *, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(store.engine)
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._seen: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(self, key: str) -> Principal | None:
        if self._ttl_s <= 0:
            return await self._store.authenticate(key)
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self._clock()
        remembered = self._seen.get(digest)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        principal = await self._store.authenticate(key)
        if len(self._seen) >= MAX_ENTRIES:
            self._seen.clear()
        self._seen[digest] = (now + self._ttl_s, principal)
        return principal
