"""The relay's two reads on every pass ("which keys are held back?", "which rows are next?") use an index
of exactly their rows, not the whole outbox; its mark of the rows Kafka confirmed is one statement.

A bulk import fills the outbox of a new deployment faster than PostgreSQL's
statistics and autovacuum follow. Without statistics the planner took the
index of migration 0003 (condition `set_aside_at IS NOT NULL` only) for most
of the table and scanned every row on every relay pass; without a VACUUM the
index on `sent_at` kept an entry for every published row, which a bitmap scan
checked on every pass. Both outboxes (intake's, notification's) are filled
here with rows published by an UPDATE, as the relay publishes them, and no
ANALYZE or VACUUM, and the plans are read on both stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from services.intake.adapters.tables import OutboxRow as IntakeOutboxRow
from services.intake.bootstrap import MIGRATIONS as INTAKE_MIGRATIONS
from services.notification.adapters.tables import OutboxRow as StatusOutboxRow
from services.notification.bootstrap import MIGRATIONS as NOTIFICATION_MIGRATIONS
from shared.db.among import among
from shared.db.outbox_reads import pending, set_aside_keys
from tests.support.stores import STORES, migrated_store

OUTBOXES = [
    pytest.param(INTAKE_MIGRATIONS, IntakeOutboxRow, "ix_outbox", id="intake"),
    pytest.param(NOTIFICATION_MIGRATIONS, StatusOutboxRow, "ix_status_outbox", id="notification"),
]
UNSENT = 500
BACKLOG = 5_000
ROWS = 30_000
SENT = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(("migrations", "table", "prefix"), OUTBOXES)
async def test_held_keys_are_read_from_their_index_on_a_table_without_statistics(
    store: str, migrations: Path, table: type[Any], prefix: str, tmp_path: Path
) -> None:
    async with migrated_store(store, "outbox_plan_", migrations, tmp_path) as engine:
        name = table.__tablename__
        await _filled(engine, store, table, ROWS, sent_at=SENT)
        for moment in ("without statistics", "after ANALYZE"):
            if moment == "after ANALYZE":
                async with engine.begin() as connection:
                    await connection.execute(text(f"ANALYZE {name}"))
            plan = await _plan(engine, store, set_aside_keys(table))
            assert f"{prefix}_held_key" in plan, (moment, plan)
            # PostgreSQL: no sequential scan; SQLite: the table is only ever read through an index
            assert "Seq Scan" not in plan, (moment, plan)
            assert all("USING" in line for line in plan.splitlines() if f"SCAN {name}" in line), (moment, plan)
        async with engine.connect() as connection:
            assert (await connection.execute(set_aside_keys(table))).all() == []


@pytest.mark.parametrize(("migrations", "table", "prefix"), OUTBOXES)
async def test_the_next_rows_are_read_from_the_unsent_index_after_many_were_published(
    migrations: Path, table: type[Any], prefix: str, tmp_path: Path
) -> None:
    """PostgreSQL only: SQLite updates a row in place and leaves nothing behind."""
    store = "postgresql"
    async with migrated_store(store, "outbox_plan_", migrations, tmp_path) as engine:
        name = table.__tablename__
        await _filled(engine, store, table, ROWS + UNSENT, sent_at=None)
        async with engine.begin() as connection:
            first_unsent = ROWS + 1  # ids from 1 in a new table
            # published as the relay publishes: an UPDATE of sent_at, leaving the old entries behind
            await connection.execute(update(table).where(col(table.id) < first_unsent).values(sent_at=SENT))
        for moment in ("without statistics", "after ANALYZE"):
            if moment == "after ANALYZE":
                async with engine.begin() as connection:
                    await connection.execute(text(f"ANALYZE {name}"))
            plan = await _plan(engine, store, pending(table, 100, []))
            # never a bitmap scan (it checks every entry a published row left behind, on every pass) nor the table
            assert "Bitmap" not in plan, (moment, plan)
            assert "Seq Scan" not in plan, (moment, plan)
            if moment == "without statistics":  # as after a bulk import: the unsent index, in its order
                assert f"{prefix}_unsent_order" in plan, plan
                assert "Sort" not in plan, plan
        async with engine.connect() as connection:
            ids = [row[0] for row in (await connection.execute(pending(table, 100, []))).all()]
        assert ids == list(range(first_unsent, first_unsent + 100))


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(("migrations", "table", "prefix"), OUTBOXES)
async def test_a_backlog_is_read_in_order_from_the_unsent_index_with_statistics_taken_before_it_drained(
    store: str, migrations: Path, table: type[Any], prefix: str, tmp_path: Path
) -> None:
    """Statistics taken while every row was unsent (a backlog after an outage), then most rows published: the
    planner still believes them unsent. Ordered by `id`, PostgreSQL had two equal choices then, the unsent index
    and the primary key with a filter, and in some of the benchmark's drains took the primary key, reading every
    published row again on every pass. Ordered by `id + 0`, only the unsent rows' index gives the order: without
    it the planner sorts, and it never walks the primary key."""
    async with migrated_store(store, "outbox_plan_", migrations, tmp_path) as engine:
        name = table.__tablename__
        await _filled(engine, store, table, ROWS + UNSENT, sent_at=None)
        async with engine.begin() as connection:
            await connection.execute(text(f"ANALYZE {name}"))  # every row unsent, as the statistics will say
            await connection.execute(update(table).where(col(table.id) <= ROWS).values(sent_at=SENT))
        plan = await _plan(engine, store, pending(table, 100, []))
        assert f"{prefix}_unsent_order" in plan, plan
        assert "Sort" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        if store == "postgresql":
            async with engine.connect() as connection:  # the index dropped in a transaction rolled back
                await connection.execute(text(f"DROP INDEX {prefix}_unsent_order"))
                statement = pending(table, 100, []).compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
                plan = "\n".join(row[0] for row in (await connection.execute(text(f"EXPLAIN {statement}"))).all())
                await connection.rollback()
            assert f"{name}_pkey" not in plan, plan
        async with engine.connect() as connection:
            ids = [row[0] for row in (await connection.execute(pending(table, 100, []))).all()]
        assert ids == list(range(ROWS + 1, ROWS + 101))


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(("migrations", "table", "prefix"), OUTBOXES)
async def test_a_backlog_grown_since_the_statistics_is_read_in_order_from_the_unsent_index(
    store: str, migrations: Path, table: type[Any], prefix: str, tmp_path: Path
) -> None:
    """Statistics taken in steady state (every row published), then a backlog (an outage on a table too large for
    autoanalyze to notice): the planner believes almost nothing is unsent. Ordered by `id + 0`, a plan could read
    every unsent row from an index of `sent_at`'s NULLs and sort them all, on every pass; that index now holds
    published rows only, and the read comes from the unsent rows' index in its order."""
    async with migrated_store(store, "outbox_plan_", migrations, tmp_path) as engine:
        name = table.__tablename__
        await _filled(engine, store, table, ROWS, sent_at=SENT)
        async with engine.begin() as connection:
            await connection.execute(text(f"ANALYZE {name}"))  # nothing unsent, as the statistics will say
        await _filled(engine, store, table, BACKLOG, sent_at=None)
        plan = await _plan(engine, store, pending(table, 100, []))
        assert f"{prefix}_unsent_order" in plan, plan
        assert "Sort" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        async with engine.connect() as connection:
            ids = [row[0] for row in (await connection.execute(pending(table, 100, []))).all()]
        assert ids == list(range(ROWS + 1, ROWS + 101))


@pytest.mark.parametrize("store", STORES)
async def test_rows_confirmed_are_marked_by_one_statement_whatever_their_count(store: str, tmp_path: Path) -> None:
    """On PostgreSQL the ids go as one array: the same prepared statement for 3 rows and for 700 (an IN list
    was a new statement, rendered and prepared afresh, for each count of rows a pass confirmed)."""
    table = IntakeOutboxRow
    async with migrated_store(store, "outbox_mark_", INTAKE_MIGRATIONS, tmp_path) as engine:
        await _filled(engine, store, table, 1000, sent_at=None)
        async with engine.connect() as connection:
            mark = update(table).where(among(col(table.id), "ids", connection.dialect.name)).values(sent_at=SENT)
            for ids in (list(range(1, 4)), list(range(101, 801))):
                await connection.execute(mark, {"ids": ids})
            if store == "postgresql":
                prepared = await connection.scalar(
                    text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'UPDATE outbox %'")
                )
                assert prepared == 1
            await connection.commit()
            marked = (await connection.execute(text("SELECT id FROM outbox WHERE sent_at IS NOT NULL"))).scalars()
        assert sorted(marked) == [*range(1, 4), *range(101, 801)]


async def _filled(engine: AsyncEngine, store: str, table: type[Any], rows: int, *, sent_at: datetime | None) -> None:
    """`rows` rows in the outbox, with neither statistics nor VACUUM on PostgreSQL until a test runs ANALYZE."""
    async with engine.begin() as connection:
        if store == "postgresql":
            await connection.execute(text(f"ALTER TABLE {table.__tablename__} SET (autovacuum_enabled = off)"))
        await connection.execute(
            insert(table),
            [
                {"topic": "t", "key": f"k{i % 997}", "envelope": {"x": 1}, "created_at": SENT, "sent_at": sent_at}
                for i in range(rows)
            ],
        )


async def _plan(engine: AsyncEngine, store: str, query: Any) -> str:
    statement = query.compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN " if store == "postgresql" else "EXPLAIN QUERY PLAN "
    async with engine.connect() as connection:
        return "\n".join(str(row[-1]) for row in (await connection.execute(text(explain + str(statement)))).all())
