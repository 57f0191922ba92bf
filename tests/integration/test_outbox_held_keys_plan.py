"""The relay's per-pass question "which keys are held back?" reads an index, not the whole outbox.

A bulk import fills the outbox of a new deployment faster than PostgreSQL's
statistics follow; without them the planner took the index of migration 0003
(condition `set_aside_at IS NOT NULL` only) for most of the table and scanned
every row on every relay pass. Both outboxes (intake's, notification's) are
filled here with sent rows and no ANALYZE, as after such an import, and the
plan of `set_aside_keys` is read on both stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.tables import OutboxRow as IntakeOutboxRow
from services.intake.bootstrap import MIGRATIONS as INTAKE_MIGRATIONS
from services.notification.adapters.tables import OutboxRow as StatusOutboxRow
from services.notification.bootstrap import MIGRATIONS as NOTIFICATION_MIGRATIONS
from shared.db.outbox import set_aside_keys
from tests.support.stores import STORES, migrated_store

OUTBOXES = [
    pytest.param(INTAKE_MIGRATIONS, IntakeOutboxRow, "ix_outbox_held_key", id="intake"),
    pytest.param(NOTIFICATION_MIGRATIONS, StatusOutboxRow, "ix_status_outbox_held_key", id="notification"),
]
ROWS = 30_000
SENT = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(("migrations", "table", "index"), OUTBOXES)
async def test_held_keys_are_read_from_their_index_on_a_table_without_statistics(
    store: str, migrations: Path, table: type[Any], index: str, tmp_path: Path
) -> None:
    async with migrated_store(store, "outbox_plan_", migrations, tmp_path) as engine:
        name = table.__tablename__
        async with engine.begin() as connection:
            if store == "postgresql":  # no statistics until the ANALYZE below, whenever autovacuum would come
                await connection.execute(text(f"ALTER TABLE {name} SET (autovacuum_enabled = off)"))
            await connection.execute(
                insert(table),
                [
                    {"topic": "t", "key": f"k{i % 997}", "envelope": {"x": 1}, "created_at": SENT, "sent_at": SENT}
                    for i in range(ROWS)
                ],
            )
        for moment in ("without statistics", "after ANALYZE"):
            if moment == "after ANALYZE":
                async with engine.begin() as connection:
                    await connection.execute(text(f"ANALYZE {name}"))
            plan = await _plan(engine, store, table)
            assert index in plan, (moment, plan)
            # PostgreSQL: no sequential scan; SQLite: the table is only ever read through an index
            assert "Seq Scan" not in plan, (moment, plan)
            assert all("USING" in line for line in plan.splitlines() if f"SCAN {name}" in line), (moment, plan)
        async with engine.connect() as connection:
            assert (await connection.execute(set_aside_keys(table))).all() == []


async def _plan(engine: AsyncEngine, store: str, table: type[Any]) -> str:
    statement = set_aside_keys(table).compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN " if store == "postgresql" else "EXPLAIN QUERY PLAN "
    async with engine.connect() as connection:
        return "\n".join(str(row[-1]) for row in (await connection.execute(text(explain + str(statement)))).all())
