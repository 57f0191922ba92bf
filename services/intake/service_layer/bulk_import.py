"""A bulk import as a stream of row results: batches validated ahead, each written in one transaction.

Each batch is validated in a worker thread (the next one while the current
one is written), so memory stays flat and results leave before the last row
is read. Rows keep the single-record rules: they go through the same
Submissions as a POSTed record. A retry with the same Idempotency-Key finds
every row already stored as a duplicate.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

from services.intake.adapters.bulk_formats import Row
from services.intake.service_layer.submissions import Outcome, Prepared, Rejected, Submissions
from shared.auth import Principal
from shared.http.problems import FieldError


class BulkImport:
    def __init__(
        self, submissions: Submissions, principal: Principal, key: str | None, columns: dict[str, str], batch: int
    ) -> None:
        self._submissions = submissions
        self._principal = principal
        self._key = key
        self._columns = columns
        self._batch = batch
        self._counts: Counter[str] = Counter()

    async def results(self, rows: Iterator[Row]) -> AsyncIterator[list[dict[str, Any]]]:
        """One result per row, in file order, a batch at a time: accepted, duplicate, or rejected with its errors."""
        upcoming = asyncio.ensure_future(asyncio.to_thread(self._prepare, rows))
        while chunk := await upcoming:
            # validate the next batch in the worker thread while this one is written
            upcoming = asyncio.ensure_future(asyncio.to_thread(self._prepare, rows))
            ready = [item for _, item in chunk if isinstance(item, Prepared)]
            outcomes = iter(await self._submissions.store(ready)) if ready else iter(())
            await self._submissions.note_rejections([item for _, item in chunk if isinstance(item, Rejected)])
            results = []
            for number, item in chunk:
                outcome = next(outcomes) if isinstance(item, Prepared) else None
                result = self._result(number, item, outcome)
                self._counts[result["status"]] += 1
                results.append(result)
            yield results

    def summary(self) -> dict[str, int]:
        """Rows seen so far, by status."""
        counts = {status: self._counts[status] for status in ("accepted", "duplicate", "rejected")}
        return {"rows": sum(counts.values()), **counts}

    def _prepare(self, rows: Iterator[Row]) -> list[tuple[int, Prepared | Rejected]]:
        prepared: list[tuple[int, Prepared | Rejected]] = []
        for row in itertools.islice(rows, self._batch):
            if row.problem is not None:
                prepared.append((row.number, Rejected([((), row.problem)])))
                continue
            raw = {k: v for k, v in row.record.items() if k != "_errors"}  # left by `popflow import`
            row_key = f"{self._key}#{row.number}" if self._key else None
            prepared.append((row.number, self._submissions.prepare(raw, self._principal, idempotency_key=row_key)))
        return prepared

    def _result(self, number: int, item: Prepared | Rejected, outcome: Outcome | None) -> dict[str, Any]:
        if isinstance(item, Rejected):
            errors = [self._error(location, message) for location, message in item.problems]
            return {"row": number, "status": "rejected", "errors": errors}
        assert outcome is not None
        if outcome.status == "conflict":
            detail = "this row's Idempotency-Key was already used for a different row"
            return {"row": number, "status": "rejected", "errors": [self._error((), detail)]}
        answer = outcome.answer() | {"status": outcome.status}
        return {"row": number, **answer}

    def _error(self, location: tuple[str | int, ...], detail: str) -> dict[str, str]:
        error = dict(FieldError.at(location, detail)) if location else {"pointer": "", "detail": detail}
        column = self._columns.get(error["pointer"])
        return error | {"column": column} if column else error
