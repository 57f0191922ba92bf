"""The key-check memory: answers (also refusals) kept for the TTL, then asked again; off at 0."""

from __future__ import annotations

from services.intake.adapters.key_cache import CachedKeyStore
from shared.auth import Principal, parse_scope
from shared.auth.store import KeyStore
from shared.db import build_engine


class CountingStore(KeyStore):
    def __init__(self) -> None:
        super().__init__(build_engine("sqlite+aiosqlite:///:memory:"))
        self.asked = 0
        self.revoked = False

    async def authenticate(self, key: str) -> Principal | None:
        self.asked += 1
        return None if self.revoked or key != "good" else Principal("k", parse_scope("admin"))


async def test_answers_are_remembered_for_the_ttl() -> None:
    store, now = CountingStore(), [0.0]
    cached = CachedKeyStore(store, ttl_s=2, clock=lambda: now[0])
    assert await cached.authenticate("good") is not None
    store.revoked = True
    assert await cached.authenticate("good") is not None  # still remembered
    assert await cached.authenticate("bad") is None
    assert await cached.authenticate("bad") is None
    assert store.asked == 2
    now[0] = 2.5
    assert await cached.authenticate("good") is None  # the revocation shows after the TTL
    assert store.asked == 3
    await store.engine.dispose()


async def test_zero_ttl_asks_every_time() -> None:
    store = CountingStore()
    cached = CachedKeyStore(store, ttl_s=0)
    for _ in range(3):
        await cached.authenticate("good")
    assert store.asked == 3
    await store.engine.dispose()
