"""Every table of reporting's store is a fact (rebuilt from the topics), a decision (copied by `popflow reporting
rebuild`) or named here as neither: a table added without a place would be lost by a rebuild unseen."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from services.reporting.adapters.tables import DECISIONS, FACTS, metadata
from services.reporting.bootstrap import MIGRATIONS
from shared.db import build_engine, run_migrations

NEITHER = {
    "weekly_exports": "the export's record: a rebuilt store writes the last closed week once more",
    "dashboard_sessions": "logins: a rebuilt store's users log in again",
}


def test_every_table_is_a_fact_a_decision_or_said_to_be_neither() -> None:
    facts, decisions = {t.name for t in FACTS}, {t.name for t in DECISIONS}
    assert not facts & decisions
    assert set(metadata.tables) == facts | decisions | set(NEITHER)
    assert "key_area_marks" in decisions  # the canvass days a late file reads


async def test_the_migrations_make_exactly_the_tables_the_code_names(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/reporting.db")
    await run_migrations(engine, MIGRATIONS)
    async with engine.connect() as connection:
        made = await connection.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
    await engine.dispose()
    assert made - {"alembic_version"} == set(metadata.tables)
