"""Group commit: concurrent single writes share one transaction, each caller gets its own answer.

A POST that writes one record pays a transaction's round trips (BEGIN, the
statements, COMMIT) on its own. Under load, the writes that arrive while one
transaction runs are written together by the next one: the same statements,
a batch of rows. At low load a write waits for nothing but one turn of the
event loop. Writes leave in the order they came, so one person's records keep
their order; an item that makes its batch fail is retried alone, so it fails
only its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

WriteBatch = Callable[[Sequence[T]], Awaitable[list[R]]]


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        write: WriteBatch[T, R],
        *,
        max_batch: int = 256,
        exclusive: Callable[[T], Hashable | None] = lambda _: None,
    ) -> None:
        """`write` stores a batch in one transaction and answers one result per item, in order.

        Two items with the same `exclusive(item)` (e.g. an idempotency key) never share a
        batch, so the second sees the first as an earlier submission.
        """
        self._write = write
        self._max_batch = max_batch
        self._exclusive = exclusive
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="group-commit")
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the writers of this turn of the loop join the first batch
        while self._queue:
            await self._write_batch(self._take())

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        left: list[tuple[T, asyncio.Future[R]]] = []
        seen: set[Hashable] = set()
        for entry in self._queue:
            mark = self._exclusive(entry[0])
            if len(batch) >= self._max_batch or (mark is not None and mark in seen):
                left.append(entry)
                continue
            if mark is not None:
                seen.add(mark)
            batch.append(entry)
        self._queue = left
        return batch

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            for entry in batch:  # find the item at fault: each alone
                await self._write_batch([entry])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(future: asyncio.Future[R], *, result: R | None = None, error: BaseException | None = None) -> None:
    if future.done():  # the caller went away (request cancelled); the write stands
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
