"""Campaigns, their key areas and canvass timetable (the bureau's own data)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import utc, within
from services.reporting.adapters.tables import campaigns, key_area_marks, key_areas
from services.reporting.domain.campaign import Campaign, Phase, TargetPopulation
from shared.db.engine import reading


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def campaign_from_row(row: Any) -> Campaign:
    target = row.target
    return Campaign(
        campaign_id=row.campaign_id,
        name=row.name,
        district=row.district,
        phases=tuple(
            Phase(p["name"], date.fromisoformat(p["starts_on"]), date.fromisoformat(p["ends_on"])) for p in row.phases
        ),
        target=TargetPopulation(
            sexes=frozenset(target.get("sexes") or ()),
            min_age=target.get("min_age"),
            max_age=target.get("max_age"),
            marital_statuses=frozenset(target.get("marital_statuses") or ()),
            arrived_from=_day(target.get("arrived_from")),
            arrived_to=_day(target.get("arrived_to")),
        ),
    )


class CampaignStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = reading(engine)  # on SQLite: no write lock taken, no writer held back

    async def create(self, values: dict[str, Any]) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(sa.insert(campaigns).values(**values))

    async def get(self, campaign_id: str) -> Campaign | None:
        async with self._reads.connect() as connection:
            row = (await connection.execute(sa.select(campaigns).where(campaigns.c.campaign_id == campaign_id))).first()
        return campaign_from_row(row) if row else None

    async def running(
        self, district: str, starts_at: datetime, ends_at: datetime, *, created_by: datetime | None = None
    ) -> Campaign | None:
        """The most recently created campaign of the district that runs during the period; with `created_by`,
        of those created by then (a week as it stood at its cut-off)."""
        query = sa.select(campaigns).where(campaigns.c.district == district).order_by(campaigns.c.created_at.desc())
        if created_by is not None:
            query = query.where(campaigns.c.created_at <= utc(created_by))
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query)).all()
        for row in rows:
            campaign = campaign_from_row(row)
            if campaign.runs_during(starts_at, ends_at):
                return campaign
        return None

    async def add_areas(self, rows: list[dict[str, Any]]) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(sa.insert(key_areas), rows)

    async def areas(self, campaign_id: str, code: str) -> list[dict[str, Any]]:
        query = (
            sa.select(key_areas)
            .where(key_areas.c.campaign_id == campaign_id, within(key_areas.c.street, code))
            .order_by(key_areas.c.street, key_areas.c.planned_on, key_areas.c.name)
        )
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            {
                "area_id": r.area_id,
                "street": r.street,
                "kind": r.kind,
                "name": r.name,
                "address": r.address,
                "planned_on": r.planned_on.isoformat(),
                "canvassed_on": r.canvassed_on.isoformat() if r.canvassed_on else None,
                "staff_id": r.staff_id,
            }
            for r in rows
        ]

    async def mark_canvassed(self, campaign_id: str, area_id: str, on: date, *, at: datetime) -> str | None:
        """The area's street, or None when the area is not in the campaign. `at`: when it is marked. A new day
        is kept beside the days before it (`key_area_marks`), so a file written late counts the area by the day
        it had at the cut-off; an area marked again on the day it has is left as it is (a clerk's retry after
        the cut-off does not take it out of the week's file)."""
        area = sa.and_(key_areas.c.campaign_id == campaign_id, key_areas.c.area_id == area_id)
        async with self._engine.begin() as connection:
            # the UPDATE first: it takes the row's lock (PostgreSQL; SQLite's transaction holds the whole store
            # from its start) before the marks are counted, so two marks of one area at once are one after the
            # other; the second with the same day changes nothing
            changed = await connection.execute(
                sa.update(key_areas)
                .where(area, sa.or_(key_areas.c.canvassed_on.is_(None), key_areas.c.canvassed_on != on))
                .values(canvassed_on=on)
            )
            if changed.rowcount == 1:
                last = sa.select(sa.func.max(key_area_marks.c.seq)).where(key_area_marks.c.area_id == area_id)
                seq = int(await connection.scalar(last) or 0) + 1
                await connection.execute(
                    sa.insert(key_area_marks).values(area_id=area_id, seq=seq, canvassed_on=on, marked_at=utc(at))
                )
            street = await connection.scalar(sa.select(key_areas.c.street).where(area))
        return None if street is None else str(street)

    async def lists_in(self, campaign_id: str) -> dict[str, datetime | None]:
        """Per street with areas in the campaign: when its first area was registered (None: before 0005)."""
        query = (
            sa.select(key_areas.c.street, sa.func.min(key_areas.c.listed_at))
            .where(key_areas.c.campaign_id == campaign_id)
            .group_by(key_areas.c.street)
        )
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {street: utc(first) if first else None for street, first in rows}

    async def planned_and_canvassed(
        self, campaign_id: str, code: str, first_day: date, last_day: date, *, as_of: datetime | None = None
    ) -> dict[str, tuple[int, int]]:
        """Per street: (areas whose timetable falls in the days, areas canvassed in the days). With `as_of`, as
        they stood then: the areas listed by then, each canvassed on the last day it was marked with by then
        (areas from before their listing or marking time was kept count as listed or marked)."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        canvassed_on: sa.ColumnElement[Any] = key_areas.c.canvassed_on
        listed: sa.ColumnElement[bool] = sa.true()
        if as_of is not None:
            canvassed_on = (
                sa.select(key_area_marks.c.canvassed_on)
                .where(key_area_marks.c.area_id == key_areas.c.area_id, _by(key_area_marks.c.marked_at, as_of))
                .order_by(key_area_marks.c.seq.desc())
                .limit(1)
                .scalar_subquery()
            )
            listed = _by(key_areas.c.listed_at, as_of)
        query = sa.select(key_areas.c.street, key_areas.c.planned_on, canvassed_on).where(
            key_areas.c.campaign_id == campaign_id, within(key_areas.c.street, code), listed
        )
        async with self._reads.connect() as connection:
            for street, planned, canvassed in (await connection.execute(query)).all():
                counts[street][0] += int(first_day <= planned <= last_day)
                counts[street][1] += int(canvassed is not None and first_day <= canvassed <= last_day)
        return {street: (p, c) for street, (p, c) in counts.items()}


def _by(moment_column: sa.Column[Any], moment: datetime) -> sa.ColumnElement[bool]:
    """The row's moment (when it was listed, marked) came by `moment`; rows from before it was kept count."""
    return sa.or_(moment_column.is_(None), moment_column <= utc(moment))
