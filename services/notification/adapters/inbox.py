"""The inbox: stores notices once, pages through them, records acknowledgements and answers.

Storing is idempotent by notice id: a notice delivered twice by Kafka (or
issued twice by a replay) lands once, and its push is scheduled once, in the
same transaction. Acknowledging twice changes nothing; answering twice is
refused (AlreadyAnswered). Every status change writes its event to the
outbox in the same transaction. The rows a new notice becomes, and what a
batch of them writes, are decided in inbox_rows.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import bindparam, case, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select

from services.notification.adapters.delivery_claims import Handoff
from services.notification.adapters.inbox_rows import Plan, delivery_values, notice_values, person_of, plan_batch
from services.notification.adapters.inbox_rows import Stored as Stored  # store_many's answer, imported from here
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.tables import (
    Delivery,
    InboxNotice,
    OutboxRow,
    WebhookSubscription,
    WebhookValues,
)
from services.notification.domain.paging import Position
from services.notification.domain.status import NoticeStatus, advanced
from shared.db import bulk
from shared.db.engine import SingleStatements
from shared.events import FeedbackResult, NoticeAnswered, NoticeIssued, RejectionReason

# (session, answered notice id, now) -> True when the answer is owed to an exchange partner (and scheduled)
AnswersOwed = Callable[[AsyncSession, str, datetime], Awaitable[bool]]


async def _nothing_owed(_: AsyncSession, __: str, ___: datetime) -> bool:
    return False


# sees a notice (None: no such notice) as the action read it, before it writes anything; raises to refuse it
NoticeCheck = Callable[[InboxNotice | None], None]


def _any_notice(_: InboxNotice | None) -> None:
    return None


class AlreadyAnswered(Exception):
    """The notice has an answer; a second one is a conflict, not an update."""


@dataclass(frozen=True, slots=True)
class InboxFilter:
    recipient_code: str
    status: str | None = None
    kind: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    result: FeedbackResult
    corrections: dict[str, Any]
    reason: RejectionReason | None
    note: str
    by: str


class Inbox:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        events: StatusEvents,
        sealed: SealedNotices,
        *,
        served_districts: Iterable[str] = (),
        answers_owed: AnswersOwed | None = None,
    ) -> None:
        self._sessions = sessions
        self._events = events
        self._sealed = sealed
        self._served = frozenset(served_districts)  # empty: every code is this deployment's (tests, one district)
        self._answers_owed = answers_owed or _nothing_owed
        self._single_statements = SingleStatements(sessions)
        self._reads = self._single_statements.read_sessions()

    async def store(self, notice: NoticeIssued, *, now: datetime) -> tuple[bool, bool]:
        """(stored: the notice is new, scheduled: a push is due: the recipient has a webhook, or is a partner's)."""
        async with self._sessions.begin() as session:
            return await self.add_in(session, notice, now=now)

    async def store_many(
        self, notices: Sequence[NoticeIssued], *, now: datetime, handoff: Handoff | None = None
    ) -> Stored:
        """`store` for a batch from Kafka, all of it or nothing: one look-up and one write.

        A notice that is already here, or earlier in the same batch, is a duplicate: (False, False).
        Webhook pushes that `handoff` takes come back as claims, to be pushed at once.

        On PostgreSQL the look-up of the recipients' webhooks and the write are a statement each,
        sent alone: the notices go in with `ON CONFLICT DO NOTHING`, their deliveries only beside
        the notices that went in, and the notices that did come back (2 round trips instead of 6:
        BEGIN, a look-up of known notices, of webhooks, two inserts, COMMIT). Other stores look the
        known notices up first, in a transaction.
        """
        if not notices:
            return Stored()
        codes = list({n.recipient_code for n in notices})
        if self._single_statements.postgres:
            async with self._single_statements.driver() as raw:  # each statement atomic alone
                found = await raw.fetch(_WEBHOOKS_OF, codes)
                webhooks = {row[0]: WebhookValues(row[1], row[2]) for row in found}
                plan = self._plan(notices, set(), webhooks, now=now, handoff=handoff)
                inserted = await bulk.insert_together(
                    raw,
                    [
                        bulk.Rows(InboxNotice, plan.rows, key="notice_id", returning="notice_id"),
                        bulk.Rows(Delivery, plan.deliveries, key="notice_id", with_returned="notice_id"),
                    ],
                )
            return plan.stored(set(inserted))
        ids = {n.notice_id for n in notices}
        async with self._sessions.begin() as session:
            known = set(
                (await session.execute(select(InboxNotice.notice_id).where(col(InboxNotice.notice_id).in_(ids))))
                .scalars()
                .all()
            )
            query = select(WebhookSubscription).where(col(WebhookSubscription.recipient_code).in_(codes))
            webhooks = {
                w.recipient_code: WebhookValues(w.url, w.secret_ciphertext)
                for w in (await session.execute(query)).scalars()
            }
            plan = self._plan(notices, known, webhooks, now=now, handoff=handoff)
            # Core inserts of plain rows: building ORM objects was a tenth of a push burst's CPU
            if plan.rows:
                await session.execute(insert(InboxNotice.__table__), plan.rows)  # type: ignore[attr-defined]
            if plan.deliveries:
                await session.execute(insert(Delivery.__table__), plan.deliveries)  # type: ignore[attr-defined]
        return plan.stored(None)

    def _plan(
        self,
        notices: Sequence[NoticeIssued],
        known: set[str],
        webhooks: Mapping[str, WebhookValues],
        *,
        now: datetime,
        handoff: Handoff | None,
    ) -> Plan:
        """`plan_batch` with this inbox's sealing and served districts."""
        row_of, is_partners = partial(self._values, now=now), self._is_partners
        return plan_batch(notices, known, webhooks, now=now, handoff=handoff, row_of=row_of, is_partners=is_partners)

    def _values(
        self, notice: NoticeIssued, person: dict[str, Any], *, now: datetime, from_partner: bool = False
    ) -> dict[str, Any]:
        """The inbox row: the person sealed, and its person key kept for the notice's status events."""
        person_sealed = self._sealed.seal_person(notice.notice_id, person)
        key = self._events.key_of(notice.person.id_number)
        return notice_values(notice, now=now, person_sealed=person_sealed, person_key=key, from_partner=from_partner)

    def _is_partners(self, code: str) -> bool:
        """A code outside the served districts is a partner's: the notice goes to it through the exchange."""
        return bool(self._served) and code[:6] not in self._served

    async def add_in(
        self, session: AsyncSession, notice: NoticeIssued, *, now: datetime, from_partner: bool = False
    ) -> tuple[bool, bool]:
        """`store` inside the caller's transaction (the exchange door records the message with it)."""
        if await session.get(InboxNotice, notice.notice_id) is not None:
            return False, False
        session.add(InboxNotice(**self._values(notice, person_of(notice), now=now, from_partner=from_partner)))
        exchange = self._is_partners(notice.recipient_code)
        scheduled = exchange or await session.get(WebhookSubscription, notice.recipient_code) is not None
        if scheduled:
            session.add(Delivery(**delivery_values(notice, now=now, exchange=exchange)))
        return True, scheduled

    async def get(self, notice_id: str) -> InboxNotice | None:
        async with self._reads() as session:
            return await session.get(InboxNotice, notice_id)

    async def page(self, where: InboxFilter, *, after: Position | None, limit: int) -> list[InboxNotice]:
        """Newest first; up to `limit` notices after `after`."""
        query = select(InboxNotice).where(col(InboxNotice.recipient_code) == where.recipient_code)
        if where.status:
            query = query.where(col(InboxNotice.status) == where.status)
        if where.kind:
            query = query.where(col(InboxNotice.kind) == where.kind)
        if where.since:
            query = query.where(col(InboxNotice.issued_at) >= where.since)
        if after:
            older = col(InboxNotice.issued_at) < after.issued_at
            tie = (col(InboxNotice.issued_at) == after.issued_at) & (col(InboxNotice.notice_id) > after.notice_id)
            query = query.where(or_(older, tie))
        query = query.order_by(col(InboxNotice.issued_at).desc(), col(InboxNotice.notice_id)).limit(limit)
        async with self._reads() as session:
            return list((await session.execute(query)).scalars())

    async def acknowledge(
        self, notice_id: str, *, by: str, now: datetime, check: NoticeCheck = _any_notice
    ) -> InboxNotice | None:
        """The notice, acknowledged once; None when no such notice. `check` sees it first, and may refuse.

        The read is locked (on SQLite the transaction holds the store from its first read: build_engine), so an
        answer sent meanwhile is written after it. The write is on a condition even so, the status moved on in the
        statement itself: an answer committed between a read and the write is never put back to acknowledged."""
        async with self._sessions.begin() as session:
            notice = await session.get(InboxNotice, notice_id, with_for_update=True)
            check(notice)
            if notice is None or notice.acknowledged_at is not None:
                return notice
            written = await session.execute(_ACKNOWLEDGE, _given(notice_id, {"at": now}))
            status = written.scalar()
            if status is None:  # acknowledged since it was read
                return notice
            session.add(self._events.acknowledged(notice, by=by, at=now))
            set_committed_value(notice, "acknowledged_at", now)
            set_committed_value(notice, "status", status)
            return notice

    async def answer(
        self, notice_id: str, answer: Answer, *, now: datetime, check: NoticeCheck = _any_notice
    ) -> NoticeAnswered | None:
        """The published answer; None when no such notice; AlreadyAnswered when it has one. `check` sees the
        notice before anything is written, and may refuse it (nothing is written then).

        On PostgreSQL two statements, each sent alone: the notice read, then the answer written only if the notice
        has none yet, and its event beside it (`_ANSWER`, one statement: both or neither). A notice a partner sent
        us, whose answer may be owed back to the partner (`answers_owed`), and SQLite take the transaction below,
        the notice read locked; as every answer did before (five round trips, and SQLAlchemy's unit of work)."""
        if self._single_statements.postgres:
            notice = await self.get(notice_id)
            check(notice)
            if notice is None:
                return None
            if not notice.from_partner:
                return await self._answer_alone(notice, answer, now=now)
        async with self._sessions.begin() as session:
            notice = await session.get(InboxNotice, notice_id, with_for_update=True)
            check(notice)
            if notice is None:
                return None
            return await self.answer_in(session, notice, answer, now=now)

    async def _answer_alone(self, notice: InboxNotice, answer: Answer, *, now: datetime) -> NoticeAnswered:
        """The answer and its event written in one statement, if the notice has no answer yet (AlreadyAnswered)."""
        if notice.answered_at is not None:
            raise AlreadyAnswered(notice.notice_id)
        row, event, changes = self._answered(notice, answer, now=now)
        values = changes | {"created_at": row.created_at, **row.model_dump(include={"topic", "key", "envelope"})}
        async with self._single_statements.connect() as connection:
            written = (await connection.execute(_ANSWER, _given(notice.notice_id, values))).first()
        if written is None:  # answered since it was read: by another clerk, at the same moment
            raise AlreadyAnswered(notice.notice_id)
        return event

    def _answered(
        self, notice: InboxNotice, answer: Answer, *, now: datetime
    ) -> tuple[OutboxRow, NoticeAnswered, dict[str, Any]]:
        """The answer's outbox row, its event, and the notice's columns as the answer sets them (`_ANSWER_ONCE`:
        the answer sealed, as the inbox keeps it)."""
        row, event = self._events.answered(
            notice,
            result=answer.result,
            corrections=answer.corrections,
            reason=answer.reason,
            note=answer.note,
            by=answer.by,
            at=now,
        )
        shown = event.model_dump(mode="json", include={"result", "corrections", "reason", "note", "answered_by"})
        sealed = self._sealed.seal_answer(notice.notice_id, shown)
        return row, event, {"answered_at": now, "answer_sealed": sealed, "status": NoticeStatus.ANSWERED.value}

    async def answer_in(
        self, session: AsyncSession, notice: InboxNotice, answer: Answer, *, now: datetime
    ) -> NoticeAnswered:
        """`answer` inside the caller's transaction, on a notice it read (locked, on PostgreSQL).

        The answer is written only on a notice without one, there too, whatever the caller's read held: the second
        of two clerks answering at once is told it was answered, never given a second answer."""
        if notice.answered_at is not None:
            raise AlreadyAnswered(notice.notice_id)
        row, event, changes = self._answered(notice, answer, now=now)
        written = await session.execute(_ANSWER_ONCE, _given(notice.notice_id, changes))
        if getattr(written, "rowcount", 0) != 1:
            raise AlreadyAnswered(notice.notice_id)
        for name, value in changes.items():  # the caller's object as written, not to be written again
            set_committed_value(notice, name, value)
        # a notice a partner sent us is answered back to that partner, not to our own routing; only such a notice
        # (stored `from_partner`, with its partner's message) has an answer owed to look up
        owed = notice.from_partner and await self._answers_owed(session, notice.notice_id, now)
        if not owed:
            session.add(row)
        return event


_NOTICES, _OUTBOX = InboxNotice.__table__.c, OutboxRow.__table__.c  # type: ignore[attr-defined]
_AT_OR_PAST_ACKNOWLEDGED = [
    status.value for status in NoticeStatus if advanced(status, NoticeStatus.ACKNOWLEDGED) is status
]
# the answer, only on a notice without one (answered is the last status: any other moves to it)
_ANSWER_ONCE = (
    update(InboxNotice.__table__)  # type: ignore[attr-defined]
    .where(_NOTICES.notice_id == bindparam("given_notice_id"), _NOTICES.answered_at.is_(None))
    .values(
        answered_at=bindparam("given_answered_at"),
        answer_sealed=bindparam("given_answer_sealed"),
        status=bindparam("given_status"),
    )
)
_ANSWERED = _ANSWER_ONCE.returning(_NOTICES.notice_id).cte("answered")
# acknowledged once; the status moves on to acknowledged unless it has moved past it (status.advanced)
_ACKNOWLEDGE = (
    update(InboxNotice.__table__)  # type: ignore[attr-defined]
    .where(_NOTICES.notice_id == bindparam("given_notice_id"), _NOTICES.acknowledged_at.is_(None))
    .values(
        acknowledged_at=bindparam("given_at"),
        status=case(
            (_NOTICES.status.in_(_AT_OR_PAST_ACKNOWLEDGED), _NOTICES.status),
            else_=NoticeStatus.ACKNOWLEDGED.value,
        ),
    )
    .returning(_NOTICES.status)
)
# `_ANSWER_ONCE`, and its event in the status outbox only if the answer was written; the outbox row's id comes
# back when both were
_ANSWER = (
    insert(OutboxRow.__table__)  # type: ignore[attr-defined]
    .from_select(
        ["topic", "key", "envelope", "created_at"],
        select(
            bindparam("given_topic", type_=_OUTBOX.topic.type),
            bindparam("given_key", type_=_OUTBOX.key.type),
            bindparam("given_envelope", type_=_OUTBOX.envelope.type),
            bindparam("given_created_at", type_=_OUTBOX.created_at.type),
        ).select_from(_ANSWERED),
    )
    .returning(_OUTBOX.id)
)


def _given(notice_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """The parameters of `_ANSWER_ONCE`, `_ANSWER` and `_ACKNOWLEDGE`, named apart from the columns (a parameter
    named as a column is taken for a value to set)."""
    return {f"given_{name}": value for name, value in ({"notice_id": notice_id} | values).items()}


_WEBHOOKS_OF = (
    f'SELECT recipient_code, url, secret_ciphertext FROM "{WebhookSubscription.__tablename__}"'  # noqa: S608 - the table's name
    " WHERE recipient_code = ANY($1::text[])"
)
