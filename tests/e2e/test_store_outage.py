"""Intake's database drops its connections while records arrive: 202 or 503, never a 500, nothing lost.

A bulk import, its 200 sent, waits for the database to come back instead (INTAKE_BULK_STORE_WAIT_S).

Nothing global is stopped: the test terminates the backends of intake's own
test database (pg_terminate_backend), as a PostgreSQL restart would, in the
middle of a stream of POSTs. While the database takes new connections, a
dropped one costs no POST anything: an idle one is replaced as it is checked
out, one with a statement in flight is written again on a new one. Only while
it refuses them is a POST answered 503.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.bulk_files import ndjson_bytes
from tests.support.infra import terminate_backends
from tests.support.records import id_number, record
from tests.support.system import System, build_system, destroy_system

POSTS = 120
BULK_BATCH = 250  # rows a bulk transaction: a dozen batches in the import below
BULK_ROWS = 3000
OUTAGE_S = 3.0  # as long as PostgreSQL refuses intake's connections during the bulk import


@pytest.fixture(scope="module")
async def intake(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    system = await build_system(Path(tmp_path_factory.mktemp("logs")), {"INTAKE_BULK_BATCH": str(BULK_BATCH)})
    try:
        system.start("intake")
        yield system
    finally:
        await destroy_system(system)


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))


async def stored_ids(system: System) -> set[str]:
    connection = await _connect(system.env["INTAKE_DATABASE_URL"])
    try:
        return {row[0] for row in await connection.fetch("SELECT record_id FROM records")}
    finally:
        await connection.close()


async def test_dropped_connections_answer_503_with_retry_after_and_every_accepted_record_survives(
    intake: System,
) -> None:
    key = await intake.create_key("admin")
    headers = {"Authorization": f"Bearer {key}"}
    statuses: dict[int, int] = {}
    while_back: dict[int, int] = {}  # the statuses of the waves after a drop, PostgreSQL back at once
    accepted: list[str] = []
    terminated = 0
    async with httpx.AsyncClient(base_url=intake.url("intake"), headers=headers, timeout=30) as client:

        async def post(n: int, *, back_at_once: bool) -> None:
            response = await client.post("/v1/records", json=record(sequence=300 + n))
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if back_at_once:
                while_back[response.status_code] = while_back.get(response.status_code, 0) + 1
            if response.status_code == 202:
                accepted.append(response.json()["record_id"])
            elif response.status_code == 503:
                assert response.headers["retry-after"].isdigit()
                assert response.headers["content-type"].startswith("application/problem+json")
            else:  # what intake logged of it: the error's kind and where, never a value
                errors = [line for line in intake.log_text("intake").splitlines() if '"level":"error"' in line]
                raise AssertionError(f"{response.status_code}: {response.text}\n" + "\n".join(errors[-3:]))

        database = intake.databases["intake"]
        for wave in range(POSTS // 10):
            # waves 1, 4, 7, ...: connections dropped, PostgreSQL back at once (a retry may well succeed);
            # waves 2, 5, 8, ...: dropped, and new ones refused while the wave runs
            refusing = wave % 3 == 2
            if wave % 3:
                terminated += await terminate_backends(database, refuse_new=True if refusing else None)
            try:
                await asyncio.gather(*(post(wave * 10 + i, back_at_once=wave % 3 == 1) for i in range(10)))
            finally:
                if refusing:
                    await terminate_backends(database, refuse_new=False)

    assert terminated > 0
    assert statuses.get(503, 0) > 0, statuses  # the refused connections were noticed, as 503s
    assert set(statuses) <= {202, 503}
    assert while_back == {202: 10 * len(range(1, POSTS // 10, 3))}, "a dropped connection, replaced: no 503"
    assert set(accepted) <= await stored_ids(intake)  # every 202 was stored


def bulk_row(n: int) -> dict[str, Any]:
    """The n-th of the import's rows: a person of their own (born in 1985, apart from the POSTs' persons)."""
    row = record()
    row["person"]["id_number"] = id_number(born=date(1985, 1, 1) + timedelta(days=n // 500), sequence=n % 500 + 1)
    return row


async def test_a_bulk_import_waits_for_its_database_through_a_restart_and_stores_every_row(intake: System) -> None:
    """The database drops intake's connections and refuses new ones for three seconds after the import's first
    batch is answered: the answer pauses, then goes on; every row is accepted and stored once."""
    key = await intake.create_key("admin")
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/x-ndjson",
        "Accept": "application/x-ndjson",
    }
    body = ndjson_bytes([bulk_row(n) for n in range(BULK_ROWS)])
    database = intake.databases["intake"]
    lines: list[dict[str, object]] = []
    restored: asyncio.Future[int] | None = None

    async def refuse_for_a_while() -> int:
        await asyncio.sleep(OUTAGE_S)
        return await terminate_backends(database, refuse_new=False)

    try:
        async with (
            httpx.AsyncClient(base_url=intake.url("intake"), timeout=120) as client,
            client.stream("POST", "/v1/records/bulk", content=body, headers=headers) as response,
        ):
            assert response.status_code == 200
            async for line in response.aiter_lines():
                lines.append(json.loads(line))
                if restored is None:  # the first batch answered: PostgreSQL goes away for a while
                    assert await terminate_backends(database, refuse_new=True) > 0
                    restored = asyncio.ensure_future(refuse_for_a_while())
            assert restored is not None
            assert restored.done(), "the import finished while the database was still away"
    finally:
        if restored is not None and not restored.done():
            restored.cancel()
            await terminate_backends(database, refuse_new=False)

    summary = lines[-1]["summary"]
    assert summary == {"rows": BULK_ROWS, "accepted": BULK_ROWS, "duplicate": 0, "rejected": 0}, summary
    results = lines[:-1]
    assert [result["row"] for result in results] == list(range(1, BULK_ROWS + 1))
    accepted = {str(result["record_id"]) for result in results}
    assert len(accepted) == BULK_ROWS
    assert accepted <= await stored_ids(intake)
    waits = [line for line in intake.log_text("intake").splitlines() if "batch waits for its database" in line]
    assert waits, "the batches waited for the database (logged), they did not just happen to miss it"
