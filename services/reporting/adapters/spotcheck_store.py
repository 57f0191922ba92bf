"""Spot-check samples and their field results (the bureau's own data)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import utc, within
from services.reporting.adapters.tables import records, spot_check_items, spot_checks
from shared.db.engine import reading

STREAMED_ROWS = 10_000  # fetched from the database at a time


class SpotCheckStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = reading(engine)  # on SQLite: no write lock taken, no writer held back

    async def candidates(self, district: str, week_from: str, week_to: str) -> AsyncIterator[tuple[str, list[str]]]:
        """(street, its record ids): the submitted records observed in the weeks (week names sort in time
        order), one street at a time, streamed from the database: a year of a district is millions of
        records, and only the street being drawn is held."""
        query = (
            sa.select(records.c.reporting_street, records.c.record_id)
            .where(
                within(records.c.reporting_street, district),
                records.c.event_kind.is_not(None),
                records.c.week >= week_from,
                records.c.week <= week_to,
            )
            .order_by(records.c.reporting_street)
        )
        street: str | None = None
        ids: list[str] = []
        async with self._reads.connect() as connection:
            result = await connection.stream(query)
            async for rows in result.partitions(STREAMED_ROWS):
                for row_street, record_id in rows:
                    if row_street != street:
                        if street is not None:
                            yield street, ids
                        street, ids = row_street, []
                    ids.append(record_id)
        if street is not None:
            yield street, ids

    async def create(self, header: dict[str, Any], sample: dict[str, list[str]]) -> None:
        items = [
            {"check_id": header["check_id"], "record_id": record_id, "street": street, "note": ""}
            for street, ids in sample.items()
            for record_id in ids
        ]
        async with self._engine.begin() as connection:
            await connection.execute(sa.insert(spot_checks).values(**header))
            if items:
                await connection.execute(sa.insert(spot_check_items), items)

    async def get(self, check_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        async with self._reads.connect() as connection:
            header = (
                await connection.execute(sa.select(spot_checks).where(spot_checks.c.check_id == check_id))
            ).first()
            if header is None:
                return None
            rows = (
                await connection.execute(
                    sa.select(spot_check_items)
                    .where(spot_check_items.c.check_id == check_id)
                    .order_by(spot_check_items.c.street, spot_check_items.c.record_id)
                )
            ).all()
        head = dict(header._mapping)
        head["drawn_at"] = utc(head["drawn_at"]).isoformat()
        items = [
            {
                "record_id": r.record_id,
                "street": r.street,
                "result": r.result,
                "note": r.note,
                "checked_at": utc(r.checked_at).isoformat() if r.checked_at else None,
            }
            for r in rows
        ]
        return head, items

    async def record_result(self, check_id: str, record_id: str, result: str, note: str, at: datetime) -> bool:
        """False when the case is not in this sample."""
        async with self._engine.begin() as connection:
            outcome = await connection.execute(
                sa.update(spot_check_items)
                .where(spot_check_items.c.check_id == check_id, spot_check_items.c.record_id == record_id)
                .values(result=result, note=note, checked_at=at)
            )
        return bool(getattr(outcome, "rowcount", 0))

    async def latest_check(self, district: str) -> str | None:
        query = (
            sa.select(spot_checks.c.check_id)
            .where(spot_checks.c.district == district)
            .order_by(spot_checks.c.drawn_at.desc())
            .limit(1)
        )
        async with self._reads.connect() as connection:
            return (await connection.execute(query)).scalar()
