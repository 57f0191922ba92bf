"""A bulk import as a stream of row results: batches prepared ahead, each written in one transaction.

Each batch is prepared (validated, sealed, its events built) in a worker
thread, the next one while the current one is written, or with
INTAKE_BULK_WORKERS in that many worker processes (bulk_workers.py), one
batch per worker plus one ahead; so memory stays flat and results leave
before the last row is read. Rows keep the single-record rules: they go
through the same Submissions as a POSTed record. A retry with the same
Idempotency-Key finds every row already stored as a duplicate.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

from services.intake.adapters.bulk_formats import Row
from services.intake.service_layer.bulk_workers import BulkWorkers, RowIn, RowOut, prepare_rows
from services.intake.service_layer.submissions import Outcome, Ready, Rejected, Submissions
from shared.auth import Principal
from shared.http.problems import FieldError


class BulkImport:
    def __init__(
        self,
        submissions: Submissions,
        principal: Principal,
        key: str | None,
        columns: dict[str, str],
        batch: int,
        workers: BulkWorkers | None = None,
        store_wait_s: float = 0.0,
    ) -> None:
        self._submissions = submissions
        self._principal = principal
        self._key = key
        self._columns = columns
        self._batch = batch
        self._workers = workers
        self._store_wait_s = store_wait_s  # how long a batch waits for a store that cannot be reached
        self._counts: Counter[str] = Counter()

    async def results(self, rows: Iterator[Row]) -> AsyncGenerator[list[dict[str, Any]], None]:
        """One result per row, in file order, a batch at a time: accepted, duplicate, or rejected with its errors.

        Closing it (`aclose`, as a streamed answer whose client went away is closed) stops the import:
        what is not stored yet is dropped. A store that cannot be reached (a restart, a fail-over) is waited for
        up to `store_wait_s` a batch, the answer paused meanwhile; past that the import ends there (its answer
        cut off), and the file sent again with the same Idempotency-Key stores the rest."""
        batches = self._in_thread(rows) if self._workers is None else self._in_workers(rows, self._workers)
        async for chunk in batches:
            ready = [item for _, item in chunk if isinstance(item, Ready)]
            stored = await self._submissions.store_ready(ready, outage_s=self._store_wait_s) if ready else []
            outcomes = iter(stored)
            rejected = [item for _, item in chunk if isinstance(item, Rejected)]
            await self._submissions.note_rejections(rejected, outage_s=self._store_wait_s)
            results = []
            for number, item in chunk:
                outcome = next(outcomes) if isinstance(item, Ready) else None
                result = self._result(number, item, outcome)
                self._counts[result["status"]] += 1
                results.append(result)
            yield results

    def summary(self) -> dict[str, int]:
        """Rows seen so far, by status."""
        counts = {status: self._counts[status] for status in ("accepted", "duplicate", "rejected")}
        return {"rows": sum(counts.values()), **counts}

    async def _in_thread(self, rows: Iterator[Row]) -> AsyncIterator[list[RowOut]]:
        upcoming = asyncio.ensure_future(asyncio.to_thread(self._prepare, rows))
        while chunk := await upcoming:
            # prepare the next batch in the worker thread while this one is written
            upcoming = asyncio.ensure_future(asyncio.to_thread(self._prepare, rows))
            yield chunk

    async def _in_workers(self, rows: Iterator[Row], workers: BulkWorkers) -> AsyncIterator[list[RowOut]]:
        """The workers' batches in file order. The file is read and its batches handed to the workers by a
        task of its own, while the batch before is stored: reading it in turn with storing left the workers
        waiting for the next batch (docs/performance.md, round 21)."""
        # while one batch is stored: a batch per worker and one more handed out (the last waiting for its
        # place in line), and one being read; so memory stays flat
        in_flight: asyncio.Queue[asyncio.Future[list[RowOut]] | None] = asyncio.Queue(maxsize=workers.size)
        feeder = asyncio.ensure_future(self._feed(rows, workers, in_flight))
        try:
            while (batch := await in_flight.get()) is not None:
                yield await batch
            await feeder
        finally:
            feeder.cancel()  # the answer was abandoned: what is not stored yet is dropped
            while not in_flight.empty():
                if (waiting := in_flight.get_nowait()) is not None:
                    waiting.cancel()

    async def _feed(
        self, rows: Iterator[Row], workers: BulkWorkers, in_flight: asyncio.Queue[asyncio.Future[list[RowOut]] | None]
    ) -> None:
        """Each batch of the file to the workers, in order, then None; a file that fails to read part-way
        (FileProblem) goes in line as a batch that fails, so the import ends with it where it was read."""
        try:
            while chunk := await asyncio.to_thread(_read, rows, self._batch):
                await in_flight.put(asyncio.ensure_future(workers.prepare(chunk, self._principal, self._key)))
        except Exception as error:
            failed: asyncio.Future[list[RowOut]] = asyncio.get_running_loop().create_future()
            failed.set_exception(error)
            await in_flight.put(failed)
        await in_flight.put(None)

    def _prepare(self, rows: Iterator[Row]) -> list[RowOut]:
        return prepare_rows(self._submissions, _read(rows, self._batch), self._principal, self._key)

    def _result(self, number: int, item: Ready | Rejected, outcome: Outcome | None) -> dict[str, Any]:
        if isinstance(item, Rejected):
            errors = [self._error(location, message) for location, message in item.problems]
            return {"row": number, "status": "rejected", "errors": errors}
        assert outcome is not None
        if outcome.status == "conflict":
            detail = "this row's Idempotency-Key was already used for a different row"
            return {"row": number, "status": "rejected", "errors": [self._error((), detail)]}
        answer = outcome.answer(self._principal) | {"status": outcome.status}
        if item.warnings:  # as a single POST's answer: only when the row names a retired code
            answer["warnings"] = list(item.warnings)
        return {"row": number, **answer}

    def _error(self, location: tuple[str | int, ...], detail: str) -> dict[str, str]:
        error = dict(FieldError.at(location, detail))
        column = self._columns.get(error["pointer"])
        return error | {"column": column} if column else error


def _read(rows: Iterator[Row], count: int) -> list[RowIn]:
    """The next `count` rows as plain tuples (what a worker process is sent)."""
    return [(row.number, row.record, row.problem) for row in itertools.islice(rows, count)]
