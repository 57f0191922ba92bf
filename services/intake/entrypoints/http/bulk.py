"""POST /v1/records/bulk: a JSON array, NDJSON, CSV or XLSX of records, one result per row.

The body is spooled (memory up to 1 MiB, disk beyond), read once to count
its rows and catch file-level problems (400, or 413 above the row limit),
then handed to the bulk import use case (service_layer/bulk_import.py),
whose results are streamed out as they come: one JSON document, or NDJSON
when the caller accepts it.
"""

import asyncio
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from services.intake.adapters.bulk_formats import MEDIA_TYPES, BulkFile, BulkFormat, FileProblem, open_bulk
from services.intake.entrypoints.http.bodies import idempotency_key
from services.intake.entrypoints.http.schema import RECORD_REF
from services.intake.service_layer.bulk_import import BulkImport
from services.intake.service_layer.bulk_workers import BulkWorkers
from services.intake.service_layer.submissions import Submissions
from shared.auth import Action, Principal
from shared.auth.dependencies import Authenticate, require
from shared.http.limits import declares_more_than
from shared.http.problems import ProblemError

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
    store_wait_s: float = 0.0  # how long a batch waits for a store that cannot be reached


def bulk_router(
    *, authenticate: Authenticate, submissions: Submissions, limits: BulkLimits, workers: BulkWorkers | None = None
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["records"])
    Caller = Annotated[Principal, Depends(authenticate)]

    @router.post("/records/bulk", openapi_extra=BULK_BODY, response_model=None)
    async def import_records(request: Request, principal: Caller) -> StreamingResponse:
        require(principal, Action.SUBMIT)  # each row's street is checked against the scope as it is read
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            raise ProblemError(415, "Unsupported Media Type", "Send JSON, NDJSON, CSV or XLSX; see docs/intake.md.")
        key = idempotency_key(request)
        spool = await _spool(request, limits.max_bytes)
        bulk, columns = await _open(spool, MEDIA_TYPES[media_type], limits.max_rows)
        as_lines = "ndjson" in request.headers.get("accept", "")
        run = BulkImport(submissions, principal, key, columns, limits.batch, workers, limits.store_wait_s)
        body = _lines(run, bulk) if as_lines else _document(run, bulk)
        media = "application/x-ndjson" if as_lines else "application/json"
        return StreamingResponse(body, media_type=media, background=BackgroundTask(spool.close))

    return router


async def _spool(request: Request, limit: int) -> IO[bytes]:
    """The body in a temporary file; 413 above `limit` bytes."""
    if declares_more_than(request.headers.get("content-length", ""), limit):
        raise _too_large(limit)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 closed after the answer
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            spool.close()
            raise _too_large(limit)
        spool.write(chunk)
    return spool


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, "Content Too Large", f"A bulk body may be at most {limit} bytes.")


async def _open(spool: IO[bytes], fmt: BulkFormat, max_rows: int) -> tuple[BulkFile, dict[str, str]]:
    """The file and its column headers, read once to count the rows; 400 or 413 (spool closed) if unfit."""
    try:
        bulk = await asyncio.to_thread(open_bulk, fmt, spool)
        rows = await asyncio.to_thread(bulk.count, max_rows + 1)
        columns = await asyncio.to_thread(bulk.headers)
    except FileProblem as error:
        spool.close()
        raise ProblemError(400, "The file cannot be read", str(error)) from None
    except BaseException:
        spool.close()  # whatever else went wrong (it answers 500, or the client went away): the file is not kept
        raise
    if rows > max_rows:
        spool.close()
        raise ProblemError(413, "Too many rows", f"A bulk import may hold at most {max_rows} rows.")
    return bulk, columns


async def _document(run: BulkImport, bulk: BulkFile) -> AsyncIterator[bytes]:
    yield b'{"results":['
    separator = b""
    async for results in run.results(bulk.rows()):
        yield separator + b",".join(map(_json, results))  # a batch in one write, not one per row
        separator = b","
    yield b'],"summary":' + _json(run.summary()) + b"}"


async def _lines(run: BulkImport, bulk: BulkFile) -> AsyncIterator[bytes]:
    async for results in run.results(bulk.rows()):
        yield b"".join(_json(result) + b"\n" for result in results)  # a batch in one write
    yield _json({"summary": run.summary()}) + b"\n"


def _json(value: Any) -> bytes:
    return orjson.dumps(value)  # compact UTF-8, as json.dumps(ensure_ascii=False) wrote it, at a tenth of the cost
