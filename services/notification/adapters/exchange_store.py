"""The exchange's records: what partners delivered (once each), the answers we owe them, counts per partner.

A batch we upload to a partner's FTP folder is recorded with the ids of the
messages it holds, so that the partner's acknowledgement (which names only
the batch) settles them. A message a partner delivers is recorded in the same transaction as its
effect (the inbox notice it becomes, or the answer it brings), so a second
delivery of it finds the row and changes nothing. An answer to a notice a
partner sent us is scheduled back to that partner as a delivery in the
transaction that records the answer, like a webhook push.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, update
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from services.notification.adapters.deliveries import new_round
from services.notification.adapters.inbox import Answer, Inbox
from services.notification.adapters.tables import (
    Delivery,
    ExchangeBatchMessage,
    ExchangeBatchReceived,
    ExchangeBatchSent,
    ExchangeReceived,
    ExchangeSetAside,
    InboxNotice,
)
from services.notification.domain.exchange_ack import AckFile, Outcome, SentBatch, judge
from services.notification.domain.exchange_batch import lines_in, refused_lines
from services.notification.domain.status import NoticeStatus, advanced
from shared.db.engine import reading_sessions
from shared.db.upsert import conflict_insert
from shared.events import NoticeIssued

ANSWER_NAMESPACE = uuid.UUID("3f9d0c1e-7a52-4e8b-b6a4-2d1c0e9f8a75")


class UnknownNotice(LookupError):
    """An answer names a notice this deployment never sent."""


class NoticeTaken(LookupError):
    """A partner's notice has the id of a notice here that is not that partner's."""


def answer_message_id(local_notice_id: str) -> str:
    return str(uuid.uuid5(ANSWER_NAMESPACE, local_notice_id))


async def owe_answer(session: AsyncSession, notice_id: str, now: datetime) -> bool:
    """Schedule the answer to a partner's notice back to it; False when the notice is our own."""
    query = select(ExchangeReceived).where(col(ExchangeReceived.local_notice_id) == notice_id)
    received = (await session.execute(query)).scalars().first()
    if received is None:
        return False
    received.answer_message_id = answer_message_id(notice_id)
    session.add(
        Delivery(
            notice_id=received.answer_message_id,
            recipient_code=received.sender_code,
            state="pending",
            next_attempt_at=now,
            updated_at=now,
            exchange_code=received.sender_code,
        )
    )
    return True


@dataclass(frozen=True, slots=True)
class Counts:
    code: str
    state: str
    deliveries: int
    attempts: int
    redelivered: int


class ExchangeStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], inbox: Inbox) -> None:
        self._sessions, self._inbox = sessions, inbox
        self._reads = reading_sessions(sessions)  # the overview's counts and lists: no writer held back on SQLite

    async def receive_notice(self, received: ExchangeReceived, notice: NoticeIssued, *, now: datetime) -> bool | None:
        """None for a duplicate (the message, or the same partner's notice under a new message id), else
        whether a push to the recipient was scheduled. NoticeTaken when the inbox holds a notice of that id
        that is not this partner's: ours (routing's ids can be derived from what travels in clear) or
        another partner's. Recorded as this partner's, it would send that notice's answer to it."""
        async with self._sessions.begin() as session:
            if await session.get(ExchangeReceived, received.message_id) is not None:
                return None
            stored, scheduled = await self._inbox.add_in(session, notice, now=now, from_partner=True)
            if not stored:
                same = select(ExchangeReceived.message_id).where(
                    col(ExchangeReceived.local_notice_id) == notice.notice_id,
                    col(ExchangeReceived.partner) == received.partner,
                )
                if (await session.execute(same.limit(1))).first() is not None:
                    return None
                raise NoticeTaken(notice.notice_id)
            session.add(received)
            return scheduled

    async def receive_answer(self, received: ExchangeReceived, answer: Answer, *, now: datetime) -> bool:
        """False for a duplicate message; UnknownNotice, AlreadyAnswered (from the inbox) refuse it."""
        async with self._sessions.begin() as session:
            if await session.get(ExchangeReceived, received.message_id) is not None:
                return False
            notice = await session.get(InboxNotice, received.notice_id, with_for_update=True)
            if notice is None or notice.record_id != received.record_id:
                raise UnknownNotice(received.notice_id)
            session.add(received)
            await self._inbox.answer_in(session, notice, answer, now=now)
            return True

    async def answer_owed(self, message_id: str) -> tuple[ExchangeReceived, InboxNotice] | None:
        """The partner's notice and our answered copy behind an answer message we owe."""
        query = (
            select(ExchangeReceived, InboxNotice)
            .join(InboxNotice, col(InboxNotice.notice_id) == col(ExchangeReceived.local_notice_id))
            .where(col(ExchangeReceived.answer_message_id) == message_id)
        )
        async with self._reads() as session:
            row = (await session.execute(query)).first()
        return (row[0], row[1]) if row else None

    async def delivery_counts(self) -> list[Counts]:
        """Deliveries to partners by destination code and state."""
        query = (
            sql_select(
                col(Delivery.exchange_code),
                col(Delivery.state),
                func.count(),
                func.coalesce(func.sum(Delivery.total_attempts), 0),
                func.count().filter(col(Delivery.total_attempts) > col(Delivery.round_attempts)),
            )
            .where(col(Delivery.exchange_code).is_not(None))
            .group_by(col(Delivery.exchange_code), col(Delivery.state))
        )
        async with self._reads() as session:
            rows = (await session.execute(query)).all()
        return [
            Counts(str(code), str(state), int(n), int(attempts), int(again)) for code, state, n, attempts, again in rows
        ]

    async def received_counts(self) -> dict[tuple[str, str], int]:
        """Messages received, by (partner, kind)."""
        query = sql_select(col(ExchangeReceived.partner), col(ExchangeReceived.kind), func.count()).group_by(
            col(ExchangeReceived.partner), col(ExchangeReceived.kind)
        )
        async with self._reads() as session:
            return {(str(p), str(k)): int(n) for p, k, n in (await session.execute(query)).all()}

    async def refused(self, *, limit: int) -> list[Delivery]:
        """Failed deliveries to partners, newest first: unconfigured partners, refusals, exhausted retries."""
        query = (
            select(Delivery)
            .where(col(Delivery.exchange_code).is_not(None), col(Delivery.state) == "failed")
            .order_by(col(Delivery.updated_at).desc())
            .limit(limit)
        )
        async with self._reads() as session:
            return list((await session.execute(query)).scalars())

    async def failed_destinations(self) -> list[str]:
        """The codes that failed deliveries to partners were for (a few: districts, bureaus, streets)."""
        failed = col(Delivery.exchange_code).is_not(None) & (col(Delivery.state) == "failed")
        query = sql_select(col(Delivery.exchange_code)).where(failed).distinct()
        async with self._reads() as session:
            return [str(code) for code in (await session.execute(query)).scalars()]

    async def failed_to(self, codes: list[str], *, limit: int) -> list[str]:
        """Ids of failed deliveries to partners for `codes`, oldest first."""
        query = (
            sql_select(col(Delivery.notice_id))
            .where(col(Delivery.exchange_code).in_(codes), col(Delivery.state) == "failed")
            .order_by(col(Delivery.updated_at))
            .limit(limit)
        )
        async with self._reads() as session:
            return [str(message_id) for message_id in (await session.execute(query)).scalars()]

    async def redeliver(self, message_ids: list[str], *, now: datetime) -> list[str]:
        """A new round, due now, for each named delivery to a partner (a notice or an answer we owe); the ids
        found. The attempts so far stay in the log and count the message as redelivered."""
        async with self._sessions.begin() as session:
            query = (
                select(Delivery)
                .where(col(Delivery.notice_id).in_(message_ids), col(Delivery.exchange_code).is_not(None))
                .with_for_update()
            )
            deliveries = list((await session.execute(query)).scalars())
            for delivery in deliveries:
                new_round(delivery, now=now)
            ids = [d.notice_id for d in deliveries]
            notices = select(InboxNotice).where(col(InboxNotice.notice_id).in_(ids)).with_for_update()
            for notice in (await session.execute(notices)).scalars():
                notice.status = advanced(NoticeStatus(notice.status), NoticeStatus.ISSUED).value
        return ids

    async def set_aside(self, row: ExchangeSetAside) -> None:
        async with self._sessions.begin() as session:
            session.add(row)

    async def set_aside_once(self, row: ExchangeSetAside) -> None:
        """`set_aside`, unless the same file is listed already for the same reason (a batch taken again). A
        check, not a constraint: one replica polls the platform (FtpPoller)."""
        same = select(ExchangeSetAside.id).where(
            col(ExchangeSetAside.file) == row.file, col(ExchangeSetAside.reason) == row.reason
        )
        async with self._sessions.begin() as session:
            if (await session.execute(same.limit(1))).first() is None:
                session.add(row)

    async def was_set_aside(self, file: str) -> bool:
        """Whether `file` (as listed: its safe form) is listed as set aside."""
        query = select(ExchangeSetAside.id).where(col(ExchangeSetAside.file) == file).limit(1)
        async with self._reads() as session:
            return (await session.execute(query)).first() is not None

    async def set_aside_files(self, *, limit: int) -> list[ExchangeSetAside]:
        """FTP batch files refused as a whole or in part, newest first."""
        query = select(ExchangeSetAside).order_by(col(ExchangeSetAside.id).desc()).limit(limit)
        async with self._reads() as session:
            return list((await session.execute(query)).scalars())

    async def batch_received(self, batch_key: str, outcome: Outcome, *, now: datetime) -> None:
        """An FTP batch in our folder taken or set aside as a whole (its latest outcome: taken again, say, after it
        was moved back from set-aside/)."""
        table = ExchangeBatchReceived.__table__  # type: ignore[attr-defined]
        async with self._sessions.begin() as session:
            received = conflict_insert(session.get_bind().dialect)(table).values(
                batch_key=batch_key, outcome=outcome.value, received_at=now
            )
            # one statement: two pollers at a hand-over (the one that lost the lead ending its round) may record
            # the same batch at once, and neither is refused
            await session.execute(
                received.on_conflict_do_update(
                    index_elements=["batch_key"],
                    set_={"outcome": received.excluded.outcome, "received_at": received.excluded.received_at},
                    where=table.c.outcome != received.excluded.outcome,
                )
            )

    async def received_outcome(self, batch_key: str) -> Outcome | None:
        """What became of the FTP batch of that key in our folder; None when the poller never took it nor set it
        aside as a whole."""
        async with self._reads() as session:
            row = await session.get(ExchangeBatchReceived, batch_key)
        return Outcome(row.outcome) if row else None

    async def record_batch(self, batch: ExchangeBatchSent, message_ids: list[str]) -> None:
        """A batch about to be uploaded and the messages in it (before the upload: no acknowledgement of an
        unrecorded batch)."""
        async with self._sessions.begin() as session:
            session.add(batch)
            await session.execute(
                insert(ExchangeBatchMessage.__table__),  # type: ignore[attr-defined]
                [{"batch_id": batch.batch_id, "message_id": message_id} for message_id in message_ids],
            )

    async def acknowledge(self, ack: AckFile, *, partner: str, now: datetime) -> int:
        """Settle the batch `ack` names, once (exchange_ack.judge; its SetAside leaves everything unchanged).

        A batch set aside over there fails its messages here, with the reason,
        for the bureau to see and redeliver; so do the lines of a taken batch
        that its acknowledgement names as refused (/2: its `refused_lines`; /1:
        its reason, exchange_batch.refused_lines), each found by its place in
        the batch. When it refused more lines than it names (a /1 from a
        version that cut them off as "and N more lines"), which of the others
        were taken is not known: they fail too, so that none is lost (one the
        partner took is a duplicate there when redelivered). Not a message
        delivered since in a later batch, nor one already pending again.
        Returns how many failed.
        """
        async with self._sessions.begin() as session:
            batch = await session.get(ExchangeBatchSent, ack.batch_id, with_for_update=True)
            sent = SentBatch(batch.batch_id, batch.partner, batch.sha256, batch.outcome is not None) if batch else None
            judge(ack, sent, signed_by=partner)
            assert batch is not None
            batch.outcome, batch.taken, batch.refused = ack.outcome.value, ack.taken, ack.refused
            batch.reason, batch.acknowledged_at = ack.reason, now
            if ack.outcome is Outcome.SET_ASIDE:
                reason = f"{partner} set the batch aside: {ack.reason or 'no reason given'}"
                return await _fail(session, ack.batch_id, None, reason, now)
            if not ack.refused:
                return 0
            # the batch's messages in the order they were recorded: its lines' order (FtpBatcher)
            in_order = select(ExchangeBatchMessage.message_id).where(col(ExchangeBatchMessage.batch_id) == ack.batch_id)
            ids = list((await session.execute(in_order.order_by(col(ExchangeBatchMessage.id)))).scalars())
            named = (
                lines_in(ack.refused_lines.items(), lines=len(ids))
                if ack.refused_lines is not None
                else refused_lines(ack.reason, lines=len(ids))
            )
            by_reason: dict[str, list[str]] = {}
            for number, why in sorted(named.items()):
                by_reason.setdefault(f"{partner} refused it: {why}", []).append(ids[number - 1])
            unnamed = ack.refused - len(named)
            if unnamed > 0:
                why = f"{partner} refused {unnamed} lines of its batch without naming them, this may be one: redeliver"
                by_reason[why] = [message_id for number, message_id in enumerate(ids, 1) if number not in named]
            failed = 0
            for why, message_ids in by_reason.items():
                failed += await _fail(session, ack.batch_id, message_ids, why, now)
            return failed

    async def acknowledged_counts(self) -> dict[str, int]:
        """Deliveries to partners whose message an FTP partner acknowledged taking, by destination code."""
        taken = (
            sql_select(col(ExchangeBatchMessage.message_id))
            .join(ExchangeBatchSent, col(ExchangeBatchSent.batch_id) == col(ExchangeBatchMessage.batch_id))
            .where(col(ExchangeBatchSent.outcome) == Outcome.TAKEN.value)
        )
        query = (
            sql_select(col(Delivery.exchange_code), func.count())
            .where(
                col(Delivery.exchange_code).is_not(None),
                col(Delivery.notice_id).in_(taken),
                col(Delivery.state) == "delivered",  # not a line of a taken batch that was refused (failed)
            )
            .group_by(col(Delivery.exchange_code))
        )
        async with self._reads() as session:
            return {str(code): int(n) for code, n in (await session.execute(query)).all()}

    async def batch_counts(self) -> dict[str, dict[str, int]]:
        """FTP batches uploaded per partner: sent, taken, set aside over there, and messages refused in them."""
        outcome = col(ExchangeBatchSent.outcome)
        query = sql_select(
            col(ExchangeBatchSent.partner),
            func.count(),
            func.count().filter(outcome == Outcome.TAKEN.value),
            func.count().filter(outcome == Outcome.SET_ASIDE.value),
            func.coalesce(func.sum(col(ExchangeBatchSent.refused)).filter(outcome == Outcome.TAKEN.value), 0),
        ).group_by(col(ExchangeBatchSent.partner))
        async with self._reads() as session:
            rows = (await session.execute(query)).all()
        return {
            str(partner): {"sent": n, "taken": taken, "set_aside": aside, "messages_refused": int(no or 0)}
            for partner, n, taken, aside, no in rows
        }


async def _fail(session: AsyncSession, batch_id: str, message_ids: list[str] | None, reason: str, now: datetime) -> int:
    """Fail the delivered messages of the batch (or those of `message_ids`) that no later batch carried."""
    which: list[ColumnElement[bool]] = [col(Delivery.notice_id).in_(_last_sent_in(batch_id))]
    if message_ids is not None:
        which.append(col(Delivery.notice_id).in_(message_ids))
    failed = await session.execute(
        update(Delivery)
        .where(*which, col(Delivery.exchange_code).is_not(None), col(Delivery.state) == "delivered")
        .values(state="failed", last_error=reason[:200], next_attempt_at=None, updated_at=now)
    )
    return int(failed.rowcount)  # type: ignore[attr-defined]


def _last_sent_in(batch_id: str) -> Any:
    """Ids of the batch's messages that no later batch carried (a later one speaks for them)."""
    mine, later = aliased(ExchangeBatchMessage), aliased(ExchangeBatchMessage)
    sent_again = (
        sql_select(col(later.id))
        .where(col(later.message_id) == col(mine.message_id), col(later.id) > col(mine.id))
        .exists()
    )
    return sql_select(col(mine.message_id)).where(col(mine.batch_id) == batch_id, ~sent_again)
