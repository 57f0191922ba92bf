"""A bulk import with worker processes: batches read ahead while the one before is stored, yet answered
in file order, with no more than a batch per worker and one more handed out, and a read that fails part-way
ends the import where it failed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import pytest

from services.intake.adapters.bulk_formats import FileProblem, Row
from services.intake.service_layer.bulk_import import BulkImport
from services.intake.service_layer.bulk_workers import BulkWorkers, RowIn, RowOut, prepare_rows
from services.intake.service_layer.submissions import Rejected, Submissions
from shared.auth import Principal, parse_scope

ADMIN = Principal("k1", parse_scope("admin"))
BATCH = 3


class NoStore:
    """Every row comes back rejected, so nothing is stored: the test is of the order, not the store."""

    async def note_rejections(self, rejections: list[Rejected], *, outage_s: float = 0.0) -> None:
        await asyncio.sleep(0.01)  # storing takes a while: reading ahead happens meanwhile


class Workers:
    """`size` workers whose batches finish out of order (each later batch sooner), counting what is out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.handed_out = 0  # batches given to the workers and not yet taken back by the import
        self.most = 0

    async def prepare(self, rows: list[RowIn], principal: Principal, key: str | None) -> list[RowOut]:
        self.handed_out += 1
        self.most = max(self.most, self.handed_out)
        await asyncio.sleep(0.05 / rows[0][0])  # the first rows take longest
        return [(number, Rejected([((), "checked")])) for number, _, _ in rows]

    def taken(self) -> None:
        self.handed_out -= 1


def rows(count: int, *, fails_after: int | None = None) -> Iterator[Row]:
    for number in range(1, count + 1):
        if fails_after is not None and number > fails_after:
            raise FileProblem("the CSV cannot be read: unexpected end of data")
        yield Row(number, {"n": number})


def importer(workers: Workers) -> BulkImport:
    return BulkImport(cast(Submissions, NoStore()), ADMIN, None, {}, BATCH, cast(BulkWorkers, workers))


async def numbers(run: BulkImport, workers: Workers, source: Iterator[Row]) -> list[int]:
    seen: list[int] = []
    async for results in run.results(source):
        workers.taken()
        seen += [result["row"] for result in results]
        await asyncio.sleep(0.02)  # the answer is written while the next batches are read and prepared
    return seen


@pytest.mark.parametrize("size", [1, 2, 3])
async def test_batches_are_answered_in_file_order_with_a_batch_per_worker_and_one_more_out(size: int) -> None:
    workers = Workers(size)
    run = importer(workers)
    assert await numbers(run, workers, rows(40)) == list(range(1, 41))
    assert run.summary() == {"rows": 40, "accepted": 0, "duplicate": 0, "rejected": 40}
    assert workers.most <= size + 2  # the batch being stored, and the workers' own plus one
    assert workers.most >= 2, "the next batch was not read while one was stored"


async def test_a_read_that_fails_part_way_ends_the_import_after_the_rows_before_it() -> None:
    workers = Workers(1)
    run = importer(workers)
    seen: list[Any] = []

    async def answered() -> None:
        async for results in run.results(rows(40, fails_after=10)):
            workers.taken()
            seen.extend(result["row"] for result in results)

    with pytest.raises(FileProblem):
        await answered()
    assert seen == list(range(1, 10))  # the batches read whole before the failure: 1-3, 4-6, 7-9


async def test_an_abandoned_import_stops_reading_and_preparing() -> None:
    workers = Workers(1)
    run = importer(workers)
    read: list[int] = []

    def counted(source: Iterator[Row]) -> Iterator[Row]:
        for row in source:
            read.append(row.number)
            yield row

    results = run.results(counted(rows(10_000)))
    await anext(results)
    await results.aclose()  # the client went away
    settled = len(read)
    await asyncio.sleep(0.2)
    assert len(read) == settled < 10_000


def test_a_row_that_is_no_record_is_the_same_rejection_when_its_file_comes_again() -> None:
    """Its RecordRejected id follows from the fingerprint: empty, it was a new random id each time, and a clerk
    who sent the file again (as `popflow import` advises after a lost answer) counted every bad line twice."""
    rows = [(3, None, "has 5 cells but the header has 4"), (4, None, "has 5 cells but the header has 4")]

    first = prepare_rows(None, rows, ADMIN, "file-1")  # type: ignore[arg-type]  # no row reaches the rules
    again = prepare_rows(None, rows, ADMIN, "file-1")  # type: ignore[arg-type]
    other = prepare_rows(None, rows, ADMIN, "file-2")  # type: ignore[arg-type]
    unkeyed = prepare_rows(None, rows, ADMIN, None)  # type: ignore[arg-type]

    told = [r.fingerprint for _, r in first if isinstance(r, Rejected)]
    assert len(set(told)) == 2  # one per row
    assert "" not in told
    assert [r.fingerprint for _, r in again if isinstance(r, Rejected)] == told
    assert not set(told) & {r.fingerprint for _, r in other if isinstance(r, Rejected)}
    assert {r.fingerprint for _, r in unkeyed if isinstance(r, Rejected)} == {""}  # no key: nothing tells a resend
