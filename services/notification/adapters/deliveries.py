"""The push schedule in the database: claiming due deliveries and recording each attempt.

Claiming: due rows are selected with FOR UPDATE SKIP LOCKED on PostgreSQL
(SQLAlchemy renders nothing on SQLite, where the single writer serialises
the claim), and their next_attempt_at is pushed to a lease that outlasts one
attempt (the HTTP timeout plus a margin). A worker that dies mid-attempt
leaves the row due again when the lease ends: that is how the schedule
survives a SIGKILL, and why an attempt may, rarely, be made twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sender import SendResult
from services.notification.adapters.tables import Delivery, DeliveryAttempt, InboxNotice, WebhookSubscription
from services.notification.domain.backoff import NextStep, Outcome
from services.notification.domain.status import NoticeStatus, advanced


@dataclass(frozen=True, slots=True)
class Claim:
    """A due push, with what it needs: the notice and the recipient's subscription (None if gone)."""

    notice_id: str
    recipient_code: str
    round_attempts: int
    total_attempts: int
    notice: InboxNotice | None = None
    subscription: WebhookSubscription | None = None
    exchange_code: str | None = None  # set: a message to the exchange partner of this code, not a webhook push


class DeliveryStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: StatusEvents) -> None:
        self._sessions = sessions
        self._events = events

    async def claim(
        self, *, now: datetime, lease_until: datetime, limit: int, busy: set[str], room: Callable[[str], int]
    ) -> list[Claim]:
        """Due deliveries of recipients that are not `busy`, at most `room(recipient)` each."""
        query = (
            select(Delivery, InboxNotice, WebhookSubscription)
            .outerjoin(InboxNotice, col(InboxNotice.notice_id) == col(Delivery.notice_id))
            .outerjoin(WebhookSubscription, col(WebhookSubscription.recipient_code) == col(Delivery.recipient_code))
            .where(col(Delivery.state) == "pending", col(Delivery.next_attempt_at) <= now)
            .order_by(col(Delivery.next_attempt_at))
            .limit(limit)
            .with_for_update(of=Delivery, skip_locked=True)
        )
        if busy:
            query = query.where(col(Delivery.recipient_code).not_in(busy))
        async with self._sessions.begin() as session:
            taken, claims = dict[str, int](), list[Claim]()
            for row, notice, subscription in (await session.execute(query)).all():
                if taken.get(row.recipient_code, 0) < room(row.recipient_code):
                    taken[row.recipient_code] = taken.get(row.recipient_code, 0) + 1
                    claims.append(
                        Claim(
                            row.notice_id,
                            row.recipient_code,
                            row.round_attempts,
                            row.total_attempts,
                            notice,
                            subscription,
                            row.exchange_code,
                        )
                    )
            if claims:
                ids = [c.notice_id for c in claims]
                await session.execute(
                    update(Delivery).where(col(Delivery.notice_id).in_(ids)).values(next_attempt_at=lease_until)
                )
        return claims

    async def record(self, claim: Claim, result: SendResult, step: NextStep, *, now: datetime) -> None:
        """The attempt, the schedule's next step and, on first delivery, the notice's status and event."""
        async with self._sessions.begin() as session:
            session.add(
                DeliveryAttempt(
                    notice_id=claim.notice_id,
                    number=claim.total_attempts + 1,
                    attempted_at=now,
                    status_code=result.status_code,
                    latency_ms=result.latency_ms,
                    error=result.error,
                )
            )
            await session.execute(
                update(Delivery)
                .where(col(Delivery.notice_id) == claim.notice_id)
                .values(
                    state="pending" if step.outcome is Outcome.RETRY else step.outcome.value,
                    round_attempts=claim.round_attempts + 1,
                    total_attempts=claim.total_attempts + 1,
                    next_attempt_at=step.retry_at,
                    last_error=result.error,
                    updated_at=now,
                )
            )
            notice = await session.get(InboxNotice, claim.notice_id, with_for_update=True)
            if notice is None:
                return
            if step.outcome is Outcome.DELIVERED and notice.delivered_at is None:
                notice.delivered_at = now
                notice.status = advanced(NoticeStatus(notice.status), NoticeStatus.DELIVERED).value
                session.add(self._events.delivered(notice, attempts=claim.total_attempts + 1, at=now))
            elif step.outcome is Outcome.FAILED:
                notice.status = advanced(NoticeStatus(notice.status), NoticeStatus.FAILED).value

    async def cancel(self, notice_id: str, *, now: datetime) -> None:
        """The recipient removed its webhook: nothing left to push to."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Delivery)
                .where(col(Delivery.notice_id) == notice_id)
                .values(state="cancelled", next_attempt_at=None, updated_at=now)
            )

    async def history(self, notice_id: str) -> tuple[Delivery | None, list[DeliveryAttempt]]:
        async with self._sessions() as session:
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
        async with self._sessions() as session:
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
            delivery.state, delivery.round_attempts = "pending", 0
            delivery.next_attempt_at, delivery.updated_at = now, now
            session.add(delivery)
            row = await session.get(InboxNotice, notice.notice_id, with_for_update=True)
            if row is not None:
                row.status = advanced(NoticeStatus(row.status), NoticeStatus.ISSUED).value
        return True
