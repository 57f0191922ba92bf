"""Which weeks the scheduled export has written, per served district (table weekly_exports)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.tables import weekly_exports
from shared.db.engine import reading
from shared.db.upsert import upsert


class ExportRecord:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = reading(engine)  # on SQLite: no write lock taken, no writer held back

    async def written(self, districts: Sequence[str]) -> dict[str, set[str]]:
        """{district: the weeks whose files were all written}; a few rows a district a year."""
        query = sa.select(weekly_exports.c.district, weekly_exports.c.week).where(
            weekly_exports.c.district.in_(list(districts))
        )
        written: dict[str, set[str]] = {district: set() for district in districts}
        async with self._reads.connect() as connection:
            for district, week in await connection.execute(query):
                written[district].add(week)
        return written

    async def record(self, week: str, districts: Sequence[str], *, files: int, at: datetime) -> None:
        """Note the week as written for each district; call it once the files are in place."""
        rows = [{"week": week, "district": d, "files": files, "written_at": at} for d in districts]
        statement = upsert(
            self._engine, weekly_exports, ["week", "district", "files", "written_at"], ["week", "district"]
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement, rows)
