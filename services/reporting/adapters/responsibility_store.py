"""The register of responsible workers and communities (the street's own data, copied by a rebuild).

Workers' names are sealed with the deployment's keyring (shared.sealing),
bound to the worker's street and staff id, and opened only to be shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import within
from services.reporting.adapters.tables import communities, key_areas, records, workers
from services.reporting.domain.responsibility import Community, Register, Worker
from shared.db.engine import reading
from shared.db.upsert import upsert
from shared.sealing import Keyring


def _context(street: str, staff_id: str) -> str:
    return f"responsible-worker/{street}/{staff_id}"


class ResponsibilityStore:
    def __init__(self, engine: AsyncEngine, keyring: Keyring) -> None:
        self._engine = engine
        self._reads = reading(engine)  # on SQLite: no write lock taken, no writer held back
        self._keyring = keyring

    def _upsert(self, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]) -> Any:
        return upsert(self._engine, table, rows[0], keys), rows

    async def save_workers(self, found: list[Worker], now: datetime) -> None:
        rows = [
            {
                "street": w.street,
                "staff_id": w.staff_id,
                "name_sealed": self._keyring.seal(w.name, context=_context(w.street, w.staff_id)),
                "updated_at": now,
            }
            for w in found
        ]
        async with self._engine.begin() as connection:
            await connection.execute(*self._upsert(workers, rows, ["street", "staff_id"]))

    async def save_communities(self, found: list[Community], now: datetime) -> None:
        rows = [
            {"code": c.code, "street": c.street, "name": c.name, "staff_id": c.staff_id, "updated_at": now}
            for c in found
        ]
        async with self._engine.begin() as connection:
            await connection.execute(*self._upsert(communities, rows, ["code"]))

    async def staff_ids(self, street: str) -> set[str]:
        query = sa.select(workers.c.staff_id).where(workers.c.street == street)
        async with self._reads.connect() as connection:
            return {staff_id for (staff_id,) in (await connection.execute(query)).all()}

    async def register(self, code: str) -> Register:
        """The workers and communities of a street or district (`code`), names opened."""
        async with self._reads.connect() as connection:
            worker_rows = (await connection.execute(sa.select(workers).where(within(workers.c.street, code)))).all()
            community_rows = (
                await connection.execute(sa.select(communities).where(within(communities.c.street, code)))
            ).all()
        found = [
            Worker(r.street, r.staff_id, self._keyring.open(r.name_sealed, context=_context(r.street, r.staff_id)))
            for r in worker_rows
        ]
        return Register(
            scope=code,
            communities={r.code: Community(r.code, r.name, r.staff_id) for r in community_rows},
            workers={w.key: w for w in found},
        )

    async def communities_seen(self, code: str) -> list[str]:
        """Community codes of the scope named by any folded record (residences in the scope)."""
        query = sa.select(records.c.community).where(within(records.c.community, code)).distinct()
        async with self._reads.connect() as connection:
            return sorted(c for (c,) in (await connection.execute(query)).all())

    async def assign_area(self, area_id: str, staff_id: str | None) -> None:
        assignment = sa.update(key_areas).where(key_areas.c.area_id == area_id).values(staff_id=staff_id)
        async with self._engine.begin() as connection:
            await connection.execute(assignment)
