"""Plans made for the tables as they are: `build_engine(..., plan_each_time=True)` on PostgreSQL.

A prepared statement's generic plan is kept for the connection's life. One made
while a table was nearly empty scans the whole table on every execution after
it has grown, until an ANALYZE replaces it; notification's claims took 2-3 ms
each that way on a young deployment (docs/performance.md, round 16).
"""

from __future__ import annotations

from typing import cast

import asyncpg
import pytest

from shared.db import build_engine
from tests.support.infra import create_database, drop_database, unique_name

# rows given as a JSON document, as shared.db.bulk gives them: the planner's estimate of them is the
# same whatever the parameter, so PostgreSQL keeps the generic plan once it has made one
TOUCH = (
    "PREPARE touch(json) AS UPDATE grows SET n = grows.n + 1"
    " FROM json_populate_recordset(NULL::grows, $1) AS given WHERE grows.id = given.id"
)
GROWN = "INSERT INTO grows SELECT g::text, 0, repeat('x', 200) FROM generate_series(21, 100000) AS g"
TWO = """EXECUTE touch('[{"id": "1"}, {"id": "2"}]')"""


@pytest.mark.parametrize("plan_each_time", [False, True], ids=["generic plans kept", "planned each time"])
async def test_a_statement_prepared_on_a_young_table_is_planned_for_the_grown_one(plan_each_time: bool) -> None:
    name = unique_name("plans")
    engine = build_engine(await create_database(name), plan_each_time=plan_each_time)
    try:
        async with engine.connect() as connection:
            raw = cast(asyncpg.Connection, (await connection.get_raw_connection()).driver_connection)
            await raw.execute("CREATE TABLE grows (id text PRIMARY KEY, n integer NOT NULL, note text)")
            await raw.execute("INSERT INTO grows SELECT g::text, 0 FROM generate_series(1, 20) AS g")
            await raw.execute(TOUCH)
            for _ in range(6):  # past the five custom plans after which PostgreSQL may keep a generic one
                await raw.execute(TWO)
            await raw.execute(GROWN)
            plan = "\n".join(row[0] for row in await raw.fetch(f"EXPLAIN {TWO}"))
            assert await raw.fetchval("SELECT n FROM grows WHERE id = '2'") == 6
    finally:
        await engine.dispose()
        await drop_database(name)
    if plan_each_time:
        assert "Seq Scan on grows" not in plan
        assert "Index Scan using grows_pkey" in plan
    else:  # the reason for the setting: the young table's plan, scanning 100,000 rows for two
        assert "Seq Scan on grows" in plan
