"""POST /v1/records/bulk: a JSON array, NDJSON, CSV or XLSX of records, one result per row.

The body is spooled (memory up to 1 MiB, disk beyond), read once to count
its rows and catch file-level problems (400, or 413 above the row limit),
then read again in batches: each batch is validated in a worker thread
(the next one while the current one is written) and written in one
transaction, and its results are streamed out at once. So
memory stays flat and the answer starts before the last row is read. A
retry with the same Idempotency-Key finds every row already stored as a
duplicate, so an import cut off half-way can simply be sent again.
"""

import asyncio
import itertools
import json
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from services.intake.adapters.bulk_formats import MEDIA_TYPES, BulkFile, FileProblem, Row, open_bulk
from services.intake.entrypoints.http.bodies import idempotency_key
from services.intake.entrypoints.http.schema import RECORD_REF
from services.intake.service_layer.submissions import Outcome, Prepared, Rejected, Submissions
from shared.auth import Principal
from shared.auth.dependencies import Authenticate
from shared.http.problems import FieldError, problem

SPOOL_IN_MEMORY = 1 << 20
TEXT = {"schema": {"type": "string"}}
BULK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": RECORD_REF}},
            "application/x-ndjson": TEXT,
            "text/csv": TEXT,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
        },
    },
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200}}
    ],
}


@dataclass(frozen=True, slots=True)
class BulkLimits:
    max_rows: int
    max_bytes: int
    batch: int


def bulk_router(*, authenticate: Authenticate, submissions: Submissions, limits: BulkLimits) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["records"])
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.post("/records/bulk", openapi_extra=BULK_BODY, response_model=None)
    async def import_records(request: Request, principal: Caller) -> JSONResponse | StreamingResponse:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            return problem(415, "Unsupported Media Type", "Send JSON, NDJSON, CSV or XLSX; see docs/intake.md.")
        key = idempotency_key(request)
        if isinstance(key, JSONResponse):
            return key
        spool = await _spool(request, limits.max_bytes)
        if spool is None:
            return problem(413, "Content Too Large", f"A bulk body may be at most {limits.max_bytes} bytes.")
        try:
            bulk = await asyncio.to_thread(open_bulk, MEDIA_TYPES[media_type], spool)
            rows = await asyncio.to_thread(_count, bulk)
            columns = await asyncio.to_thread(bulk.headers)
        except FileProblem as error:
            spool.close()
            return problem(400, "The file cannot be read", str(error))
        if rows > limits.max_rows:
            spool.close()
            return problem(413, "Too many rows", f"A bulk import may hold at most {limits.max_rows} rows.")
        as_lines = "ndjson" in request.headers.get("accept", "")
        run = _Import(submissions, principal, key, columns, limits.batch)
        body = run.lines(bulk) if as_lines else run.document(bulk)
        media = "application/x-ndjson" if as_lines else "application/json"
        return StreamingResponse(body, media_type=media, background=BackgroundTask(spool.close))

    return router


async def _spool(request: Request, limit: int) -> IO[bytes] | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 closed after the answer
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            spool.close()
            return None
        spool.write(chunk)
    return spool


def _count(bulk: BulkFile) -> int:
    return sum(1 for _ in bulk.rows())


class _Import:
    def __init__(
        self, submissions: Submissions, principal: Principal, key: str | None, columns: dict[str, str], batch: int
    ) -> None:
        self._submissions = submissions
        self._principal = principal
        self._key = key
        self._columns = columns
        self._batch = batch
        self.summary: Counter[str] = Counter()

    async def document(self, bulk: BulkFile) -> AsyncIterator[bytes]:
        yield b'{"results":['
        separator = b""
        async for result in self._results(bulk):
            yield separator + _json(result)
            separator = b","
        yield b'],"summary":' + _json(self._summary()) + b"}"

    async def lines(self, bulk: BulkFile) -> AsyncIterator[bytes]:
        async for result in self._results(bulk):
            yield _json(result) + b"\n"
        yield _json({"summary": self._summary()}) + b"\n"

    async def _results(self, bulk: BulkFile) -> AsyncIterator[dict[str, Any]]:
        rows = bulk.rows()
        upcoming = asyncio.ensure_future(asyncio.to_thread(self._prepare, rows))
        while chunk := await upcoming:
            # validate the next batch in the worker thread while this one is written
            upcoming = asyncio.ensure_future(asyncio.to_thread(self._prepare, rows))
            ready = [item for _, item in chunk if isinstance(item, Prepared)]
            outcomes = iter(await self._submissions.store(ready)) if ready else iter(())
            await self._submissions.note_rejections([item for _, item in chunk if isinstance(item, Rejected)])
            for number, item in chunk:
                outcome = next(outcomes) if isinstance(item, Prepared) else None
                result = self._result(number, item, outcome)
                self.summary[result["status"]] += 1
                yield result

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

    def _summary(self) -> dict[str, int]:
        counts = {status: self.summary[status] for status in ("accepted", "duplicate", "rejected")}
        return {"rows": sum(counts.values()), **counts}


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
