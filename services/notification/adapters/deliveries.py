"""The push schedule in the database: claiming due deliveries and recording each attempt.

Claiming: due rows are selected with FOR UPDATE SKIP LOCKED on PostgreSQL
(SQLAlchemy renders nothing on SQLite, where the single writer serialises
the claim), and their next_attempt_at is pushed to a lease that outlasts one
attempt (the HTTP timeout plus a margin). A worker that dies mid-attempt
leaves the row due again when the lease ends: that is how the schedule
survives a SIGKILL, and why an attempt may, rarely, be made twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sender import SendResult
from services.notification.adapters.tables import (
    NOTICE_VALUES,
    Delivery,
    DeliveryAttempt,
    InboxNotice,
    NoticeValues,
    NoticeView,
    OutboxRow,
    WebhookSubscription,
    WebhookValues,
    utc,
)
from services.notification.domain.backoff import NextStep, Outcome, begun_anew
from services.notification.domain.status import NoticeStatus, advanced
from shared.db import bulk
from shared.db.among import among
from shared.db.engine import SingleStatements

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


@dataclass(frozen=True, slots=True)
class Claim:
    """A due push, with what it needs: the notice and the recipient's subscription (None if gone)."""

    notice_id: str
    recipient_code: str
    round_attempts: int
    total_attempts: int
    notice: NoticeView | None = None
    subscription: WebhookValues | None = None
    exchange_code: str | None = None  # set: a message to the exchange partner of this code, not a webhook push
    person: dict[str, Any] | None = None  # the notice's person, when the store handed the push over: no unsealing
    round_number: int = 0  # the schedule's round when claimed (a new row's is 0): a redelivery since moved it on


class Handoff:
    """New pushes the delivery worker takes straight from the transaction that stores their notices.

    A push taken is stored leased until `lease_until`, as if claimed, and comes back as a Claim:
    no claim's round trip between storing a notice and pushing it. At most `room(recipient)` of
    a recipient's and `limit` in all are taken; the rest are stored due now, for the next claim.
    """

    def __init__(self, *, lease_until: datetime, limit: int, room: Callable[[str], int]) -> None:
        self.lease_until = lease_until
        self._left, self._room = limit, room
        self._taken: dict[str, int] = {}

    def take(self, recipient_code: str) -> bool:
        taken = self._taken.get(recipient_code, 0)
        if self._left <= 0 or taken >= self._room(recipient_code):
            return False
        self._taken[recipient_code], self._left = taken + 1, self._left - 1
        return True


@dataclass(frozen=True, slots=True)
class Attempted:
    """One push attempt's outcome, to be recorded."""

    claim: Claim
    result: SendResult
    step: NextStep
    now: datetime


class DeliveryStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: StatusEvents) -> None:
        self._sessions = sessions
        self._events = events
        self._single_statements = SingleStatements(sessions)

    async def claim(
        self, *, now: datetime, lease_until: datetime, limit: int, busy: set[str], room: Callable[[str], int]
    ) -> tuple[list[Claim], bool]:
        """Due deliveries of recipients that are not `busy`, at most `room(recipient)` each; and whether
        more may be due (the limit was reached, or a recipient had more than its room)."""
        schedule, notices = Delivery.__table__, InboxNotice.__table__  # type: ignore[attr-defined]
        webhooks = WebhookSubscription.__table__  # type: ignore[attr-defined]
        # plain rows, not ORM objects: loading three instances a push cost more than the SQL
        columns = [
            *(schedule.c[name] for name in _CLAIM_COLUMNS),
            *(notices.c[name].label(f"n_{name}") for name in NOTICE_VALUES),
            webhooks.c.url,
            webhooks.c.secret_ciphertext,
        ]
        query = (
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
        async with self._sessions.begin() as session:
            taken, claims, read = dict[str, int](), list[Claim](), 0
            for row in (await session.execute(query)).mappings():
                read += 1
                code = row["recipient_code"]
                if taken.get(code, 0) < room(code):
                    taken[code] = taken.get(code, 0) + 1
                    claims.append(_claim_of(row))
            if claims:
                claimed = among(schedule.c.notice_id, "ids", session.get_bind().dialect.name)
                await session.execute(
                    update(schedule).where(claimed).values(next_attempt_at=lease_until, leased_until=lease_until),
                    {"ids": [c.notice_id for c in claims]},
                )
        return claims, read >= limit or len(claims) < read

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
            new_round(delivery, now=now)
            session.add(delivery)
            row = await session.get(InboxNotice, notice.notice_id, with_for_update=True)
            if row is not None:
                row.status = advanced(NoticeStatus(row.status), NoticeStatus.ISSUED).value
        return True


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
