"""Place checks and the persons they found (the bureau's own data), and the records they are compared with."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import utc, within
from services.reporting.adapters.tables import place_check_persons, place_checks, records
from services.reporting.domain.placechecks import Held
from services.reporting.domain.spotchecks import PlaceTally
from shared.db.engine import reading

PlaceCheckRows = tuple[dict[str, Any], list[dict[str, Any]]]  # (header, persons in the order listed)


class PlaceCheckStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = reading(engine)  # on SQLite: no write lock taken, no writer held back

    async def held(self, person_keys: list[str]) -> dict[str, list[Held]]:
        """Every submitted record of these persons, by person key (the fold's person keys)."""
        query = sa.select(records.c.person_key, records.c.record_id, records.c.event_kind, records.c.observed_at).where(
            records.c.person_key.in_(person_keys), records.c.event_kind.is_not(None)
        )
        found: dict[str, list[Held]] = defaultdict(list)
        async with self._reads.connect() as connection:
            for key, record_id, event_kind, observed_at in (await connection.execute(query)).all():
                found[key].append(Held(record_id, event_kind, utc(observed_at)))
        return dict(found)

    async def create(self, header: dict[str, Any], persons: list[dict[str, Any]]) -> bool:
        """Store a new check with its persons in one transaction; False when its id is taken already."""
        try:
            async with self._engine.begin() as connection:
                await connection.execute(sa.insert(place_checks).values(**header))
                await connection.execute(sa.insert(place_check_persons), persons)
        except IntegrityError:
            return False
        return True

    async def get(self, place_check_id: str) -> PlaceCheckRows | None:
        async with self._reads.connect() as connection:
            header = (
                await connection.execute(sa.select(place_checks).where(place_checks.c.place_check_id == place_check_id))
            ).first()
            if header is None:
                return None
            rows = (
                await connection.execute(
                    sa.select(place_check_persons)
                    .where(place_check_persons.c.place_check_id == place_check_id)
                    .order_by(place_check_persons.c.position)
                )
            ).all()
        return dict(header._mapping), [dict(row._mapping) for row in rows]

    async def mark_entered(self, place_check_id: str, entered: dict[str, str], at: datetime) -> None:
        """Missed persons (by person key) whose record intake accepted, with its record id."""
        statement = (
            sa.update(place_check_persons)
            .where(
                place_check_persons.c.place_check_id == place_check_id,
                place_check_persons.c.person_key == sa.bindparam("key"),
            )
            .values(record_id=sa.bindparam("record"), entered_at=at)
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement, [{"key": k, "record": r} for k, r in entered.items()])

    async def headers(self, check_id: str, code: str) -> list[dict[str, Any]]:
        """The place checks of a spot check in a street (or every street of a district code), with their counts."""
        persons = place_check_persons
        counts = (
            sa.select(
                persons.c.place_check_id,
                sa.func.count().label("persons"),
                sa.func.count().filter(persons.c.outcome == "missed").label("missed"),
                sa.func.count()
                .filter(persons.c.outcome == "missed", persons.c.record_id.is_not(None))
                .label("entered"),
            )
            .group_by(persons.c.place_check_id)
            .subquery()
        )
        query = (
            sa.select(place_checks, counts.c.persons, counts.c.missed, counts.c.entered)
            .join(counts, counts.c.place_check_id == place_checks.c.place_check_id)
            .where(place_checks.c.check_id == check_id, within(place_checks.c.street, code))
            .order_by(place_checks.c.street, place_checks.c.checked_on, place_checks.c.place_check_id)
        )
        async with self._reads.connect() as connection:
            return [dict(row._mapping) for row in (await connection.execute(query)).all()]

    async def tallies(self, check_id: str) -> dict[str, PlaceTally]:
        """Per street of a spot check: its place checks, the persons found there, and the missed."""
        tallies: dict[str, PlaceTally] = {}
        for row in await self.headers(check_id, ""):
            was = tallies.get(row["street"], PlaceTally())
            tallies[row["street"]] = PlaceTally(
                was.places + 1, was.persons + row["persons"], was.missed + row["missed"]
            )
        return tallies
