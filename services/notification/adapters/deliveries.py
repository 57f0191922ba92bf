"""The push schedule in the database: claiming due deliveries, a notice's history, the failed list, redelivery.

Claiming: due rows are selected with FOR UPDATE SKIP LOCKED on PostgreSQL
(SQLAlchemy renders nothing on SQLite, where the single writer serialises
the claim), and their next_attempt_at is pushed to a lease that outlasts one
attempt (the HTTP timeout plus a margin). A worker that dies mid-attempt
leaves the row due again when the lease ends: that is how the schedule
survives a SIGKILL, and why an attempt may, rarely, be made twice.

What a claim holds is in adapters/delivery_claims.py; how each attempt is
recorded, in adapters/attempt_records.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.notification.adapters.attempt_records import AttemptRecords
from services.notification.adapters.delivery_claims import Attempted, Claim
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.tables import (
    NOTICE_VALUES,
    Delivery,
    DeliveryAttempt,
    InboxNotice,
    NoticeValues,
    WebhookSubscription,
    WebhookValues,
    utc,
)
from services.notification.domain.backoff import NextStep
from services.notification.domain.status import NoticeStatus, advanced
from shared.db.among import among
from shared.db.engine import reading_sessions

_CLAIM_COLUMNS = ("notice_id", "recipient_code", "round_attempts", "total_attempts", "exchange_code", "round_number")
ROUND_NUMBERS = 1_000_000  # a round's number wraps here (migration 0016 bounds the column): only compared for equality


def _claim_of(row: Mapping[Any, Any]) -> Claim:
    """A claim from a row of the claim's query (notice columns prefixed `n_`; NULL when the notice is gone)."""
    notice = NoticeValues.of({name: row[f"n_{name}"] for name in NOTICE_VALUES}) if row["n_notice_id"] else None
    webhook = WebhookValues(row["url"], row["secret_ciphertext"]) if row["url"] is not None else None
    return Claim(
        row["notice_id"],
        row["recipient_code"],
        row["round_attempts"],
        row["total_attempts"],
        notice,
        webhook,
        row["exchange_code"],
        round_number=row["round_number"],
    )


class DeliveryStore:
    """The push schedule as the delivery worker and the bureau's follow-up use it: due pushes claimed under a
    lease (a worker that dies leaves its pushes due again), attempts recorded, a notice's history, the failed
    list, a new round of pushes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: StatusEvents) -> None:
        self._sessions = sessions
        self._reads = reading_sessions(sessions)  # the history and the failed list: no writer held back on SQLite
        self._attempts = AttemptRecords(sessions, events)

    async def claim(
        self, *, now: datetime, lease_until: datetime, limit: int, busy: set[str], room: Callable[[str], int]
    ) -> tuple[list[Claim], bool]:
        """Due deliveries of recipients that are not `busy`, at most `room(recipient)` each; and whether
        more may be due (the limit was reached, or a recipient had more than its room)."""
        query = _due(now=now, limit=limit, busy=busy)
        async with self._sessions.begin() as session:
            claims, read = _within_room((await session.execute(query)).mappings(), room)
            if claims:
                await _lease(session, claims, until=lease_until)
        return claims, read >= limit or len(claims) < read

    async def record_many(self, attempts: Sequence[Attempted]) -> list[NextStep]:
        """The attempts recorded in one transaction; the step each was recorded with (AttemptRecords.record_many)."""
        return await self._attempts.record_many(attempts)

    async def cancel(self, notice_id: str, *, now: datetime) -> None:
        """The recipient removed its webhook: nothing left to push to."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Delivery)
                .where(col(Delivery.notice_id) == notice_id)
                .values(state="cancelled", next_attempt_at=None, updated_at=now)
            )

    async def history(self, notice_id: str) -> tuple[Delivery | None, list[DeliveryAttempt]]:
        async with self._reads() as session:
            delivery = await session.get(Delivery, notice_id)
            query = select(DeliveryAttempt).where(col(DeliveryAttempt.notice_id) == notice_id)
            attempts = list((await session.execute(query.order_by(col(DeliveryAttempt.number)))).scalars())
        return delivery, attempts

    async def failed(self, *, prefix: str, limit: int) -> list[tuple[Delivery, InboxNotice]]:
        """Failed deliveries of recipients whose code starts with `prefix`, most recent first."""
        query = (
            select(Delivery, InboxNotice)
            .join(InboxNotice, col(InboxNotice.notice_id) == col(Delivery.notice_id))
            .where(col(Delivery.state) == "failed", col(Delivery.recipient_code).startswith(prefix))
            .order_by(col(Delivery.updated_at).desc())
            .limit(limit)
        )
        async with self._reads() as session:
            return [(d, n) for d, n in (await session.execute(query)).all()]

    async def redeliver(self, notice: InboxNotice, *, now: datetime) -> bool:
        """A new round of pushes, due now; False when the recipient has no webhook (nor exchange partner)."""
        async with self._sessions.begin() as session:
            delivery = await session.get(Delivery, notice.notice_id, with_for_update=True)
            to_partner = delivery is not None and delivery.exchange_code is not None
            if not to_partner and await session.get(WebhookSubscription, notice.recipient_code) is None:
                return False
            if delivery is None:
                delivery = Delivery(notice_id=notice.notice_id, recipient_code=notice.recipient_code, state="pending")
            new_round(delivery, now=now)
            session.add(delivery)
            row = await session.get(InboxNotice, notice.notice_id, with_for_update=True)
            if row is not None:
                row.status = advanced(NoticeStatus(row.status), NoticeStatus.ISSUED).value
        return True


def _due(*, now: datetime, limit: int, busy: set[str]) -> Select[Any]:
    """The claim's query: due rows of recipients not `busy`, the longest due first, with their notice and
    webhook, locked (rows another worker is claiming are skipped, not waited for)."""
    schedule, notices = Delivery.__table__, InboxNotice.__table__  # type: ignore[attr-defined]
    webhooks = WebhookSubscription.__table__  # type: ignore[attr-defined]
    # plain rows, not ORM objects: loading three instances a push cost more than the SQL
    columns = [
        *(schedule.c[name] for name in _CLAIM_COLUMNS),
        *(notices.c[name].label(f"n_{name}") for name in NOTICE_VALUES),
        webhooks.c.url,
        webhooks.c.secret_ciphertext,
    ]
    query: Select[Any] = (
        select(*columns)
        .select_from(schedule)
        .outerjoin(notices, notices.c.notice_id == schedule.c.notice_id)
        .outerjoin(webhooks, webhooks.c.recipient_code == schedule.c.recipient_code)
        .where(schedule.c.state == "pending", schedule.c.next_attempt_at <= now)
        .order_by(schedule.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=schedule, skip_locked=True)
    )
    if busy:
        query = query.where(schedule.c.recipient_code.not_in(busy))
    return query


def _within_room(rows: Iterable[Mapping[Any, Any]], room: Callable[[str], int]) -> tuple[list[Claim], int]:
    """The claims of the rows, at most `room(recipient)` of each recipient; and how many rows were read."""
    taken, claims, read = dict[str, int](), list[Claim](), 0
    for row in rows:
        read += 1
        code = row["recipient_code"]
        if taken.get(code, 0) < room(code):
            taken[code] = taken.get(code, 0) + 1
            claims.append(_claim_of(row))
    return claims, read


async def _lease(session: AsyncSession, claims: list[Claim], *, until: datetime) -> None:
    """The claimed rows not due again before `until`: no other worker claims them while their pushes are
    made, and they come due again should this one die."""
    schedule = Delivery.__table__  # type: ignore[attr-defined]
    claimed = among(schedule.c.notice_id, "ids", session.get_bind().dialect.name)
    await session.execute(
        update(schedule).where(claimed).values(next_attempt_at=until, leased_until=until),
        {"ids": [c.notice_id for c in claims]},
    )


def new_round(delivery: Delivery, *, now: datetime) -> None:
    """A new round of pushes, due now. A push under way (its lease not over) keeps the row, so that no worker
    pushes the notice beside it; its attempt stays the old round's (the round's number has moved on since its
    claim), and unless it delivers, the new round's first push is due as it is recorded (record_many)."""
    leased = delivery.leased_until is not None and utc(delivery.leased_until) > now
    under_way = delivery.state == "pending" and leased
    delivery.state, delivery.round_attempts, delivery.updated_at = "pending", 0, now
    delivery.round_number = (delivery.round_number + 1) % ROUND_NUMBERS
    if not under_way:
        delivery.next_attempt_at = now
