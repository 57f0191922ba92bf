"""Recording push attempts: the attempt log, each schedule's next step, the notices they settle.

A batch of attempts (the worker's group commit, shared/db/group_commit.py) is
written in one transaction: each attempt in its notice's attempt log, its
schedule's next step and, when it settles the notice, the notice's status and
its NoticeDelivered event for the outbox. An attempt counts in the round it was
claimed in; when a redelivery began a new round during the push
(deliveries.new_round), what follows the attempt is the new round's (record_many).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from services.notification.adapters.delivery_claims import Attempted
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.tables import Delivery, DeliveryAttempt, InboxNotice, OutboxRow
from services.notification.domain.backoff import NextStep, Outcome, begun_anew
from services.notification.domain.status import NoticeStatus, advanced
from shared.db import bulk
from shared.db.among import among
from shared.db.engine import SingleStatements

# what settling a notice reads of it: its status, and what its NoticeDelivered event carries
_SETTLE_COLUMNS = (
    "notice_id",
    "record_id",
    "recipient_code",
    "route",
    "kind",
    "status",
    "delivered_at",
    "person_key",
    "person_sealed",
)


class AttemptRecords:
    """The statements that record push attempts (DeliveryStore.record_many)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: StatusEvents) -> None:
        self._sessions = sessions
        self._events = events
        self._single_statements = SingleStatements(sessions)

    async def record_many(self, attempts: Sequence[Attempted]) -> list[NextStep]:
        """The attempts, each schedule's next step and, on first delivery, the notice's status and event,
        in one transaction (the worker's group commit); the step each was recorded with.

        An attempt counts in the round it was claimed in. A redelivery during its push (new_round) moved
        the schedule's round on: the attempt was the old round's, and what follows it is `begun_anew`
        (unless it delivered, the new round's first push, due now), not the old round's step, which may
        have been its last. The write finds those itself, leaving their rows as they are, and they are
        recorded next, in a transaction of their own (redeliveries are rare; the write stays one statement).

        Each notice appears at most once in `attempts` (the worker never has two
        pushes of one notice in flight, and the group commit keeps one per batch).
        On PostgreSQL: BEGIN, the settled notices read and locked, one statement
        for all the writes, COMMIT (4 round trips instead of 7); a batch that
        settles nothing is one statement sent alone. Other stores: a statement
        of each kind.
        """
        if not attempts:
            return []
        in_lock_order = sorted(attempts, key=lambda a: a.claim.notice_id)  # two batches never wait on each other
        recorded = await self._record(in_lock_order)
        anew = [
            replace(a, step=begun_anew(a.step, now=a.now)) for a in in_lock_order if a.claim.notice_id not in recorded
        ]
        if anew:
            await self._record(anew, anew=True)
        steps = {a.claim.notice_id: a.step for a in anew}
        return [steps.get(a.claim.notice_id, a.step) for a in attempts]

    async def _record(self, attempts: list[Attempted], *, anew: bool = False) -> set[str]:
        """Write the attempts and what follows each; the notice ids written. Unless `anew`, only those whose
        schedule is still in the claimed round: the write's own condition, the attempt written with it."""
        if not self._single_statements.postgres:
            return await self._record_elsewhere(attempts, anew=anew)
        writes = [
            bulk.Rows(
                Delivery,
                [_schedule(a, anew=anew) for a in attempts],
                update_by="notice_id",
                unchanged=None if anew else "round_number",
                returning="notice_id",
            ),
            bulk.Rows(DeliveryAttempt, [_tried(a) for a in attempts], with_returned="notice_id"),
        ]
        settled = _settled(attempts)
        if not settled:
            async with self._single_statements.driver() as raw:  # one statement: atomic alone
                return set(await bulk.insert_together(raw, writes))
        async with self._sessions.begin() as session:
            changes, events = await self._settle(session, settled, anew=anew)  # its read begins the transaction
            raw = await bulk.driver(session)
            assert raw is not None
            notices = bulk.Rows(InboxNotice, changes, update_by="notice_id")
            return set(await bulk.insert_together(raw, [*writes, notices, bulk.Rows(OutboxRow, events)]))

    async def _record_elsewhere(self, attempts: list[Attempted], *, anew: bool) -> set[str]:
        """`_record` on other stores (SQLite): the schedules' rounds read first, a statement of each kind."""
        async with self._sessions.begin() as session:
            if not anew:
                attempts = await _in_claimed_round(session, attempts)
            if not attempts:
                return set()
            await session.execute(insert(DeliveryAttempt.__table__), [_tried(a) for a in attempts])  # type: ignore[attr-defined]
            schedules = [_schedule(a, anew=anew) for a in attempts]
            await _update_by_notice_id(session, Delivery.__table__, schedules)  # type: ignore[attr-defined]
            if settled := _settled(attempts):
                changes, events = await self._settle(session, settled, anew=anew)
                await _update_by_notice_id(session, InboxNotice.__table__, changes)  # type: ignore[attr-defined]
                if events:
                    await session.execute(insert(OutboxRow.__table__), events)  # type: ignore[attr-defined]
        return {a.claim.notice_id for a in attempts}

    async def _settle(
        self, session: AsyncSession, settled: list[Attempted], *, anew: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Delivered or failed for good: each notice's new status (forward only) and, on its first delivery,
        its NoticeDelivered event for the outbox, from the notices read and locked. Plain rows in and out:
        ORM objects cost more than the SQL. Unless `anew`, a notice whose schedule's round has moved on since
        the claim is left as it is: its attempt is recorded anew (record_many).

        Each notice's schedule is locked with it, the schedule first (as a redelivery locks them), in
        notice order: one lock order for concurrent batches and redeliveries.
        """
        notices, schedule = InboxNotice.__table__, Delivery.__table__  # type: ignore[attr-defined]
        columns = [*(notices.c[name] for name in _SETTLE_COLUMNS), schedule.c.round_number]
        query = (
            select(*columns)
            .select_from(schedule)
            .join(notices, notices.c.notice_id == schedule.c.notice_id)
            .where(among(schedule.c.notice_id, "ids", session.get_bind().dialect.name))
            .order_by(schedule.c.notice_id)
            .with_for_update()
        )
        ids = [a.claim.notice_id for a in settled]
        stored = {row.notice_id: row for row in (await session.execute(query, {"ids": ids})).all()}
        changes: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for a in settled:
            row = stored.get(a.claim.notice_id)
            if row is None or (not anew and row.round_number != a.claim.round_number):
                continue
            status, delivered_at = NoticeStatus(row.status), row.delivered_at
            if a.step.outcome is Outcome.DELIVERED and delivered_at is None:
                status, delivered_at = advanced(status, NoticeStatus.DELIVERED), a.now
                events.append(self._events.delivered(row, attempts=a.claim.total_attempts + 1, at=a.now))
            elif a.step.outcome is Outcome.FAILED:
                status = advanced(status, NoticeStatus.FAILED)
            else:
                continue
            changes.append({"notice_id": row.notice_id, "status": status.value, "delivered_at": delivered_at})
        return changes, events


def _settled(attempts: list[Attempted]) -> list[Attempted]:
    return [a for a in attempts if a.step.outcome in (Outcome.DELIVERED, Outcome.FAILED)]


def _tried(a: Attempted) -> dict[str, Any]:
    """The attempt's row in the notice's attempt log."""
    return {
        "notice_id": a.claim.notice_id,
        "number": a.claim.total_attempts + 1,
        "attempted_at": a.now,
        "status_code": a.result.status_code,
        "latency_ms": a.result.latency_ms,
        "error": a.result.error,
    }


def _schedule(a: Attempted, *, anew: bool) -> dict[str, Any]:
    """The schedule's columns after the attempt and, unless `anew`, the round it counts in (which the write checks).
    `anew`: a new round began during the attempt, and has had no attempt of its own yet."""
    row = {
        "notice_id": a.claim.notice_id,
        "state": "pending" if a.step.outcome is Outcome.RETRY else a.step.outcome.value,
        "round_attempts": 0 if anew else a.claim.round_attempts + 1,
        "total_attempts": a.claim.total_attempts + 1,
        "next_attempt_at": a.step.retry_at,
        "leased_until": None,
        "last_error": a.result.error,
        "updated_at": a.now,
    }
    return row if anew else {**row, "round_number": a.claim.round_number}


async def _in_claimed_round(session: AsyncSession, attempts: list[Attempted]) -> list[Attempted]:
    """The attempts whose schedule is still in the round it was claimed in."""
    schedule = Delivery.__table__  # type: ignore[attr-defined]
    query = select(schedule.c.notice_id, schedule.c.round_number).where(
        among(schedule.c.notice_id, "ids", session.get_bind().dialect.name)
    )
    found = await session.execute(query, {"ids": [a.claim.notice_id for a in attempts]})
    rounds = {row.notice_id: row.round_number for row in found}
    return [a for a in attempts if rounds.get(a.claim.notice_id) == a.claim.round_number]


async def _update_by_notice_id(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Each row's columns set on the table's row of its notice id: one executemany of a cached statement."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != "notice_id"]
    statement = (
        update(table)
        .where(table.c.notice_id == bindparam("b_notice_id"))
        .values(**{name: bindparam(f"b_{name}") for name in columns})
    )
    await session.execute(statement, [{f"b_{name}": value for name, value in row.items()} for row in rows])
