"""Sign-offs of weekly reports and of campaign results (the bureau's own data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.report_filters import utc, within
from services.reporting.adapters.tables import campaign_results, signoff_steps, signoffs
from services.reporting.domain.signoff import Signoff, SignoffState, Step, step_of
from shared.db.engine import reading
from shared.db.upsert import first_insert, upsert


def _signoff(row: Any) -> Signoff:
    return Signoff(
        street=row.street,
        week=row.week,
        state=SignoffState(row.state),
        first_submitted_at=utc(row.first_submitted_at),
        submitted_at=utc(row.submitted_at),
        reviewed_at=utc(row.reviewed_at) if row.reviewed_at else None,
        comment=row.comment,
    )


def _step_insert(signoff: Signoff) -> Any:
    """The step that made `signoff`, numbered after the week's steps before it."""
    step = step_of(signoff)
    of_week = (signoff_steps.c.street == signoff.street) & (signoff_steps.c.week == signoff.week)
    seq = sa.select(sa.func.coalesce(sa.func.max(signoff_steps.c.seq), 0) + 1).where(of_week).scalar_subquery()
    return sa.insert(signoff_steps).values(
        street=signoff.street, week=signoff.week, seq=seq, at=step.at, state=step.state.value, comment=step.comment
    )


class SignoffStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = reading(engine)  # on SQLite: no write lock taken, no writer held back

    async def get(self, street: str, week: str) -> Signoff | None:
        query = sa.select(signoffs).where(signoffs.c.street == street, signoffs.c.week == week)
        async with self._reads.connect() as connection:
            row = (await connection.execute(query)).first()
        return _signoff(row) if row else None

    async def save(self, signoff: Signoff, *, replacing: Signoff | None) -> bool:
        """Store `signoff` in place of `replacing` (None: there was none); False when the week's sign-off is
        no longer `replacing` (another clerk's step got in between), and nothing is written."""
        values = {
            "street": signoff.street,
            "week": signoff.week,
            "state": signoff.state.value,
            "first_submitted_at": signoff.first_submitted_at,
            "submitted_at": signoff.submitted_at,
            "reviewed_at": signoff.reviewed_at,
            "comment": signoff.comment,
        }
        if replacing is None:
            statement: Any = first_insert(self._engine, signoffs, ["street", "week"]).values(**values)
        else:
            statement = (
                sa.update(signoffs)
                .where(
                    signoffs.c.street == signoff.street,
                    signoffs.c.week == signoff.week,
                    signoffs.c.state == replacing.state.value,
                )
                .values(**values)
            )
        async with self._engine.begin() as connection:
            saved = bool(getattr(await connection.execute(statement), "rowcount", 0))
            if saved:  # the row written holds off a concurrent step of the week until this commits
                await connection.execute(_step_insert(signoff))
        return saved

    async def steps_of(self, code: str, week: str) -> dict[str, list[Step]]:
        """The recorded steps of the week's sign-offs within `code`, per street, in order."""
        query = (
            sa.select(signoff_steps)
            .where(within(signoff_steps.c.street, code), signoff_steps.c.week == week)
            .order_by(signoff_steps.c.street, signoff_steps.c.seq)
        )
        steps: dict[str, list[Step]] = {}
        async with self._reads.connect() as connection:
            for row in (await connection.execute(query)).all():
                steps.setdefault(row.street, []).append(Step(utc(row.at), SignoffState(row.state), row.comment))
        return steps

    async def of(self, code: str, weeks: Sequence[str]) -> list[Signoff]:
        query = sa.select(signoffs).where(within(signoffs.c.street, code), signoffs.c.week.in_(list(weeks)))
        async with self._reads.connect() as connection:
            return [_signoff(row) for row in (await connection.execute(query)).all()]

    async def decide_campaign(self, campaign_id: str, street: str, decision: str, comment: str, at: datetime) -> None:
        values = {
            "campaign_id": campaign_id,
            "street": street,
            "decision": decision,
            "comment": comment,
            "decided_at": at,
        }
        async with self._engine.begin() as connection:
            await connection.execute(upsert(self._engine, campaign_results, values, ["campaign_id", "street"]), values)

    async def campaign_results(self, campaign_id: str) -> list[dict[str, Any]]:
        query = (
            sa.select(campaign_results)
            .where(campaign_results.c.campaign_id == campaign_id)
            .order_by(campaign_results.c.street)
        )
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            {
                "street": r.street,
                "decision": r.decision,
                "comment": r.comment,
                "decided_at": utc(r.decided_at).isoformat(),
            }
            for r in rows
        ]
