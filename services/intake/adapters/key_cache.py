"""A short-lived memory of keys that authenticated, in front of the shared key store.

Every request carries a key, and checking it costs database round trips
that dominate a single POST. Answers are remembered for a few seconds
(INTAKE_KEY_CACHE_SECONDS; 0 turns this off), so a revoked key stops
working within that time. Only a SHA-256 of each key is held, never the key.

One lookup per key at a time: the requests that find a key unknown or
expired together wait for the same answer (at 32 connections an expiry sent
every one of them to the database). An answer older than half the TTL is
looked up again in the background while it is still served, so under steady
traffic no request waits for the key store; a revocation still shows within
the TTL, counted from the start of the lookup that read the key.

The memory is bounded, and full it forgets its oldest answers one at a time.
Refusals are held apart, in a smaller memory: a stream of made-up keys (each
one refused, each one remembered) then pushes out only other refusals, never
a key that works, so the integrators' requests keep being answered from here.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from shared.auth import Principal
from shared.auth.store import KeyStore
from shared.recent import keep_newest

MAX_KNOWN = 10_000  # keys that work: far more than a deployment issues
MAX_UNKNOWN = 1_000  # refusals: enough for a mistyped or revoked key retried in a loop

Answer = tuple[float, Principal | None]  # (expires at, the principal or None)


class RecentAnswers:
    """The last answers per key digest, the keys that work apart from the refusals, each bounded.

    Full, a memory forgets its oldest answer (the one written longest ago: a key
    in use is renewed every half TTL, so it stays among the newest). O(1) per
    call, no lock: the event loop runs one call at a time.
    """

    def __init__(self, *, max_known: int = MAX_KNOWN, max_unknown: int = MAX_UNKNOWN) -> None:
        self._known: OrderedDict[str, Answer] = OrderedDict()
        self._unknown: OrderedDict[str, Answer] = OrderedDict()
        self._max_known = max_known
        self._max_unknown = max_unknown

    def get(self, digest: str) -> Answer | None:
        return self._known.get(digest) or self._unknown.get(digest)

    def put(self, digest: str, answer: Answer) -> None:
        if answer[1] is None:
            self._known.pop(digest, None)  # a key revoked
            keep_newest(self._unknown, digest, answer, self._max_unknown)
        else:
            self._unknown.pop(digest, None)  # a key that started to work
            keep_newest(self._known, digest, answer, self._max_known)


class CachedKeyStore(KeyStore):
    def __init__(
        self,
        store: KeyStore,
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        answers: RecentAnswers | None = None,
    ) -> None:
        super().__init__(store.engine)
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._seen = answers or RecentAnswers()
        self._lookups: dict[str, asyncio.Task[Principal | None]] = {}  # in flight, by digest

    async def authenticate(self, key: str) -> Principal | None:
        if self._ttl_s <= 0:
            return await self._store.authenticate(key)
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self._clock()
        remembered = self._seen.get(digest)
        if remembered is not None and remembered[0] > now:
            if remembered[0] - now < self._ttl_s / 2 and digest not in self._lookups:
                self._look_up(key, digest, now)  # ahead of the expiry: nobody waits for it
            return remembered[1]
        lookup = self._lookups.get(digest) or self._look_up(key, digest, now)
        return await asyncio.shield(lookup)  # a caller that goes away leaves the others their answer

    def _look_up(self, key: str, digest: str, now: float) -> asyncio.Task[Principal | None]:
        async def look_up() -> Principal | None:
            principal = await self._store.authenticate(key)
            self._seen.put(digest, (now + self._ttl_s, principal))
            return principal

        task = asyncio.create_task(look_up(), name="key-lookup")
        self._lookups[digest] = task
        task.add_done_callback(lambda done: self._finished(digest, done))
        return task

    def _finished(self, digest: str, task: asyncio.Task[Principal | None]) -> None:
        if self._lookups.get(digest) is task:
            del self._lookups[digest]
        if not task.cancelled():
            task.exception()  # a failed lookup ahead of time is retried by the next request, not reported
