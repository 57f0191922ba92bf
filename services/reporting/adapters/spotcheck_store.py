"""Spot-check samples and their field results (the bureau's own data)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.tables import records, spot_check_items, spot_checks
from services.reporting.adapters.weekly_store import utc, within


class SpotCheckStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def candidates(self, district: str, week_from: str, week_to: str) -> dict[str, list[str]]:
        """Per street, the submitted records observed in the weeks (week names sort in time order)."""
        query = sa.select(records.c.reporting_street, records.c.record_id).where(
            within(records.c.reporting_street, district),
            records.c.event_kind.is_not(None),
            records.c.week >= week_from,
            records.c.week <= week_to,
        )
        found: dict[str, list[str]] = defaultdict(list)
        async with self._engine.connect() as connection:
            for street, record_id in (await connection.execute(query)).all():
                found[street].append(record_id)
        return dict(found)

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
        async with self._engine.connect() as connection:
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
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).scalar()
