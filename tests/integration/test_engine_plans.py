"""Plans made for the tables as they are: `build_engine(..., plan_each_time=True)` on PostgreSQL.

A prepared statement's generic plan is kept for the connection's life. One made
while a table was nearly empty scans the whole table on every execution after
it has grown, until an ANALYZE replaces it; notification's claims took 2-3 ms
each that way on a young deployment (docs/performance.md, round 16).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import cast

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from services.notification.bootstrap import create_app as notification_app
from services.notification.settings import NotificationSettings
from services.routing.bootstrap import create_app as routing_app
from services.routing.settings import RoutingSettings
from shared.db import build_engine
from shared.runtime import Runtime
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET, create_database, drop_database, unique_name

# rows given as a JSON document, as shared.db.bulk gives them: the planner's estimate of them is the
# same whatever the parameter, so PostgreSQL keeps the generic plan once it has made one
TOUCH = (
    "PREPARE touch(json) AS UPDATE grows SET n = grows.n + 1"
    " FROM json_populate_recordset(NULL::grows, $1) AS given WHERE grows.id = given.id"
)
GROWN = "INSERT INTO grows SELECT g::text, 0, repeat('x', 200) FROM generate_series(21, 100000) AS g"
TWO = """EXECUTE touch('[{"id": "1"}, {"id": "2"}]')"""


@asynccontextmanager
async def connected(stem: str, *, plan_each_time: bool) -> AsyncIterator[asyncpg.Connection]:
    """The driver's connection of an engine built as a service builds it, on a database of its own."""
    name = unique_name(stem)
    engine = build_engine(await create_database(name), plan_each_time=plan_each_time)
    try:
        async with engine.connect() as connection:
            yield cast(asyncpg.Connection, (await connection.get_raw_connection()).driver_connection)
    finally:
        await engine.dispose()
        await drop_database(name)


async def explained(raw: asyncpg.Connection, statement: str) -> str:
    return "\n".join(row[0] for row in await raw.fetch(f"EXPLAIN {statement}"))


@pytest.mark.parametrize("plan_each_time", [False, True], ids=["generic plans kept", "planned each time"])
async def test_a_statement_prepared_on_a_young_table_is_planned_for_the_grown_one(plan_each_time: bool) -> None:
    async with connected("plans", plan_each_time=plan_each_time) as raw:
        await raw.execute("CREATE TABLE grows (id text PRIMARY KEY, n integer NOT NULL, note text)")
        await raw.execute("INSERT INTO grows SELECT g::text, 0 FROM generate_series(1, 20) AS g")
        await raw.execute(TOUCH)
        for _ in range(6):  # past the five custom plans after which PostgreSQL may keep a generic one
            await raw.execute(TWO)
        await raw.execute(GROWN)
        plan = await explained(raw, TWO)
        assert await raw.fetchval("SELECT n FROM grows WHERE id = '2'") == 6
    if plan_each_time:
        assert "Seq Scan on grows" not in plan
        assert "Index Scan using grows_pkey" in plan
    else:  # the reason for the setting: the young table's plan, scanning 100,000 rows for two
        assert "Seq Scan on grows" in plan


# routing's look-up of the events of a batch it has handled before (services/routing/adapters/decision_store.py)
HANDLED = "PREPARE handled(text[]) AS SELECT event_id FROM processed_events WHERE event_id = ANY($1)"
HANDLED_GROWN = "INSERT INTO processed_events SELECT gen_random_uuid()::text, now() FROM generate_series(1, 20000)"


def handled_ids(first: int) -> str:
    """60 event ids as an SQL array."""
    return "ARRAY[" + ",".join(f"'00000000-0000-4000-8000-{n:012d}'" for n in range(first, first + 60)) + "]"


def handled_batch(first: int) -> str:
    return f"EXECUTE handled({handled_ids(first)})"


@pytest.mark.parametrize("plan_each_time", [False, True], ids=["generic plans kept", "planned each time"])
async def test_the_look_up_of_handled_events_reads_the_index_once_they_are_many(plan_each_time: bool) -> None:
    async with connected("handled", plan_each_time=plan_each_time) as raw:
        await raw.execute(
            "CREATE TABLE processed_events (event_id varchar(36) PRIMARY KEY, handled_at timestamptz NOT NULL)"
        )
        await raw.execute(HANDLED)
        for batch in range(6):  # a young deployment's first batches, each handled and noted as routing does
            await raw.execute(handled_batch(batch * 60))
            await raw.execute(f"INSERT INTO processed_events SELECT unnest({handled_ids(batch * 60)}), now()")
        await raw.execute(HANDLED_GROWN)
        plan = await explained(raw, handled_batch(1000))
    if plan_each_time:
        assert "Seq Scan on processed_events" not in plan
        assert "processed_events_pkey" in plan
    else:  # each batch compared its 60 ids with every event handled so far: 15-100 ms a batch at 200 a second
        assert "Seq Scan on processed_events" in plan


def routing(database_url: str) -> FastAPI:
    return routing_app(RoutingSettings.model_validate(common(database_url)))


def notification(database_url: str) -> FastAPI:
    return notification_app(NotificationSettings.model_validate(common(database_url)))


def common(database_url: str) -> dict[str, object]:
    return {
        "POPFLOW_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
        "POPFLOW_DATA_KEYS": DATA_KEYS,
        "POPFLOW_KEYS_DATABASE_URL": "sqlite+aiosqlite:////nonexistent/never-opened.db",
        "database_url": database_url,
    }


@pytest.mark.parametrize("service", [routing, notification], ids=["routing", "notification"])
async def test_services_whose_look_ups_read_growing_tables_plan_each_statement(
    service: Callable[[str], FastAPI],
) -> None:
    name = unique_name("planmode")
    runtime: Runtime = service(await create_database(name)).state.runtime
    try:
        async with runtime.engine.connect() as connection:
            mode = (await connection.execute(text("SHOW plan_cache_mode"))).scalar_one()
    finally:
        await runtime.engine.dispose()
        await runtime.keys.engine.dispose()
        await drop_database(name)
    assert mode == "force_custom_plan"
