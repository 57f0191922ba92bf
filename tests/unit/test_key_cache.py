"""The key-check memory: answers (also refusals) kept for the TTL, then asked again; off at 0."""

from __future__ import annotations

import asyncio

from services.intake.adapters.key_cache import CachedKeyStore, RecentAnswers
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


class SlowStore(CountingStore):
    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def authenticate(self, key: str) -> Principal | None:
        self.asked += 1
        await self.release.wait()
        return None if self.revoked or key != "good" else Principal("k", parse_scope("admin"))


async def test_requests_that_find_a_key_unknown_together_share_one_lookup() -> None:
    store = SlowStore()
    cached = CachedKeyStore(store, ttl_s=2, clock=lambda: 0.0)
    waiting = [asyncio.create_task(cached.authenticate("good")) for _ in range(5)]
    gone = asyncio.create_task(cached.authenticate("good"))
    await asyncio.sleep(0.01)
    gone.cancel()  # one caller goes away: the others still get their answer
    store.release.set()
    answers = await asyncio.gather(*waiting)
    assert all(answer is not None for answer in answers)
    assert store.asked == 1
    await store.engine.dispose()


async def test_an_answer_past_half_its_ttl_is_renewed_while_it_is_served() -> None:
    store, now = CountingStore(), [0.0]
    cached = CachedKeyStore(store, ttl_s=2, clock=lambda: now[0])
    assert await cached.authenticate("good") is not None
    store.revoked = True
    now[0] = 1.5  # past half the TTL: still served, looked up again behind the scenes
    assert await cached.authenticate("good") is not None
    await asyncio.sleep(0.01)
    assert store.asked == 2
    assert await cached.authenticate("good") is None  # the renewed answer, before the first one expired
    assert store.asked == 2
    await store.engine.dispose()


async def test_a_stream_of_made_up_keys_pushes_out_no_key_that_works() -> None:
    store = CountingStore()
    cached = CachedKeyStore(store, ttl_s=60, clock=lambda: 0.0)
    assert await cached.authenticate("good") is not None
    for n in range(12_000):  # more refusals than the whole memory held
        assert await cached.authenticate(f"made-up-{n}") is None
    asked = store.asked
    assert await cached.authenticate("good") is not None
    assert store.asked == asked  # still answered from memory
    await store.engine.dispose()


def test_a_full_memory_forgets_its_oldest_answer_only() -> None:
    answers = RecentAnswers(max_known=2, max_unknown=2)
    principal = Principal("k", parse_scope("admin"))
    for digest in ("a", "b", "c"):
        answers.put(digest, (1.0, principal))
    for digest in ("x", "y", "z"):
        answers.put(digest, (1.0, None))
    assert [answers.get(d) is not None for d in "abcxyz"] == [False, True, True, False, True, True]


def test_a_revoked_key_leaves_the_keys_that_work() -> None:
    answers = RecentAnswers(max_known=2, max_unknown=2)
    answers.put("a", (1.0, Principal("k", parse_scope("admin"))))
    answers.put("a", (2.0, None))
    assert answers.get("a") == (2.0, None)
    answers.put("b", (1.0, Principal("k", parse_scope("admin"))))
    answers.put("c", (1.0, Principal("k", parse_scope("admin"))))
    assert answers.get("b") is not None  # "a" no longer took a place among the keys that work
