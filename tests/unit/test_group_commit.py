"""Group commit: concurrent writes share a transaction; each caller still gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.db.group_commit import GroupCommit


class Store:
    """A fake transactional store: a batch is kept whole or not at all."""

    def __init__(self, bad: set[int] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.kept: list[int] = []
        self.bad = bad or set()

    async def write(self, items: Sequence[int]) -> list[str]:
        await asyncio.sleep(0.001)  # a round trip
        if self.bad & set(items):
            raise ValueError("a value the column refuses")
        self.batches.append(list(items))
        self.kept.extend(items)
        return [f"ok {i}" for i in items]


async def test_concurrent_writes_share_transactions_and_keep_their_order() -> None:
    store = Store()
    group: GroupCommit[int, str] = GroupCommit(store.write)
    answers = await asyncio.gather(*(group.submit(i) for i in range(100)))
    assert answers == [f"ok {i}" for i in range(100)]
    assert store.kept == list(range(100))
    assert len(store.batches) < 10  # batched, not one transaction each


async def test_a_lone_write_is_not_kept_waiting_for_company() -> None:
    store = Store()
    group: GroupCommit[int, str] = GroupCommit(store.write)
    assert await asyncio.wait_for(group.submit(7), timeout=1) == "ok 7"
    assert store.batches == [[7]]


async def test_a_bad_item_fails_only_its_own_caller() -> None:
    store = Store(bad={3})
    group: GroupCommit[int, str] = GroupCommit(store.write)
    results = await asyncio.gather(*(group.submit(i) for i in range(6)), return_exceptions=True)
    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [f"ok {i}" for i in (0, 1, 2, 4, 5)]
    assert sorted(store.kept) == [0, 1, 2, 4, 5]


async def test_batches_are_capped() -> None:
    store = Store()
    group: GroupCommit[int, str] = GroupCommit(store.write, max_batch=8)
    await asyncio.gather(*(group.submit(i) for i in range(30)))
    assert max(len(b) for b in store.batches) <= 8
    assert store.kept == list(range(30))


async def test_items_with_the_same_mark_never_share_a_batch() -> None:
    store = Store()
    group: GroupCommit[int, str] = GroupCommit(store.write, exclusive=lambda i: i % 2)
    await asyncio.gather(*(group.submit(i) for i in range(6)))
    assert all(len({i % 2 for i in batch}) == len(batch) for batch in store.batches)
    assert sorted(store.kept) == list(range(6))


async def test_a_caller_that_goes_away_does_not_stop_the_others() -> None:
    store = Store()
    group: GroupCommit[int, str] = GroupCommit(store.write)
    leaving = asyncio.ensure_future(group.submit(1))
    staying = asyncio.ensure_future(group.submit(2))
    await asyncio.sleep(0)
    leaving.cancel()
    assert await staying == "ok 2"
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert 2 in store.kept
