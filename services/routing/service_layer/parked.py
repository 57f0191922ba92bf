"""Answers that came before their notice was stored: parked, applied once it is, set aside if it never comes.

A notice's event reaches the topic before the batch that writes its row
commits: a batch hands each run's events to the producer as soon as the run
is written (records.py), and one that fails after that commits only when it
is tried again, a retry pause later. A street that answers in between (an
integrator's system can answer a webhook within milliseconds) would find no
notice here. Such an answer is parked (`park`, in the answer's own
transaction, which marks its event handled), and so is any later answer to
the same notice while one waits, so that a notice's answers apply in the
order they came.

Failure policy (background job `parked-answers`, once per deployment): each
pass applies, one transaction each and oldest first, every parked answer
whose notice is stored now: the answer's effects, its events (published
before the commit) and the parked row's removal commit together, so a crash
applies it again or not at all, never twice. An answer that can never apply
(answered already, corrections that do not fit, another record's notice)
goes to the dead-letter topic as the subscriber would have sent it, with
where it came from, and its row is removed. An answer whose notice has not
come within ROUTING_PARKED_ANSWER_MAX_AGE_S is set aside the same way ("no
notice ... within ..."). A failed pass (database or broker down) is logged and
tried again at the next interval; a dead letter sent by a pass whose commit
then failed is sent again, and `popflow dead-letters show` counts the repeat
instead of listing it twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.routing.adapters import store
from services.routing.adapters.emitter import Outgoing
from services.routing.adapters.tables import ParkedAnswer
from services.routing.service_layer.context import RoutingContext
from shared.events import Envelope, NoticeAnswered, parse_event
from shared.kafka.consuming import message_in_hand
from shared.kafka.failures import DeadLetters, PermanentFailure, is_permanent
from shared.metrics import Metrics, Samples
from shared.sealing import Keyring, SealError

log = structlog.get_logger(__name__)

ApplyNow = Callable[[AsyncSession, Envelope, NoticeAnswered], Awaitable[list[Outgoing]]]


def park(
    session: AsyncSession, envelope: Envelope, feedback: NoticeAnswered, *, keyring: Keyring, now: datetime
) -> None:
    """Keep the answer being handled until its notice is stored: the message as it came, sealed whole
    (a version-1 answer carries its corrections in clear), and where it came from."""
    in_hand = message_in_hand()
    # outside a subscriber (a test calling the handler) the envelope is the message
    body = in_hand.body if in_hand else envelope.model_dump_json().encode()
    event_id = str(envelope.event_id)
    session.add(
        ParkedAnswer(
            event_id=event_id,
            notice_id=feedback.notice_id,
            record_id=feedback.record_id,
            body_sealed=keyring.seal_bytes(body, context=_context(event_id)),
            source_topic=in_hand.topic if in_hand else NoticeAnswered.TOPIC,
            source_partition=in_hand.partition if in_hand else None,
            source_offset=in_hand.offset if in_hand else None,
            parked_at=now,
        )
    )


@dataclass(frozen=True)
class Passed:
    """What one pass did."""

    applied: int = 0
    set_aside: int = 0


class ParkedAnswers:
    """The job that applies parked answers once their notice is stored, and sets aside those too old.

    `group`: the answer subscriber's consumer group, named in the dead letters it sets aside.
    """

    def __init__(
        self,
        context: RoutingContext,
        apply_now: ApplyNow,
        dead_letters: DeadLetters,
        *,
        group: str,
        max_age: timedelta,
        batch: int = 100,
    ) -> None:
        self._context = context
        self._apply_now = apply_now
        self._dead_letters = dead_letters
        self._group = group
        self._max_age = max_age
        self._batch = batch

    async def run(self, interval_s: float) -> None:
        """Pass after pass until cancelled; a failed pass is logged and tried again next time."""
        while True:
            try:
                await self.run_once()
            except Exception as error:
                log.warning("parked answers pass failed", error=type(error).__name__)
            await asyncio.sleep(interval_s)

    async def run_once(self) -> Passed:
        applied = set_aside = 0
        while (outcome := await self._apply_next()) is not None:
            applied += outcome
            set_aside += not outcome
        while expired := await self._set_aside_expired():
            set_aside += expired
        if applied or set_aside:
            log.info("parked answers pass", applied=applied, set_aside=set_aside)
        return Passed(applied, set_aside)

    def measure(self, metrics: Metrics) -> None:
        """Report how many answers wait as `popflow_parked_answers` on every scrape."""

        async def read() -> Samples:
            async with self._context.sessions() as session:
                return [((), float(await store.parked_count(session)))]

        metrics.gauge("popflow_parked_answers", "Answers waiting for their notice to be stored", [], read)

    async def _apply_next(self) -> bool | None:
        """Apply the oldest parked answer whose notice is stored: True when applied, False when it
        can never apply (set aside), None when no parked answer's notice is stored."""
        try:
            async with self._context.sessions.begin() as session:
                row = await store.next_ready_parked(session)
                if row is None:
                    return None
                with structlog.contextvars.bound_contextvars(event_id=row.event_id, correlation_id=row.record_id):
                    try:
                        envelope = Envelope.model_validate_json(self._opened(row))
                        event = parse_event(envelope, self._context.keyring)
                        assert isinstance(event, NoticeAnswered)
                        outgoing = await self._apply_now(session, envelope, event)
                    except Exception as error:
                        if not is_permanent(error):
                            raise
                        raise _Refused(row.seq, error) from error  # rolls back whatever it wrote
                    await self._context.emitter.emit(outgoing)
                    await store.unpark(session, row)
                    log.info("parked answer applied", notice_id=row.notice_id)
                    return True
        except _Refused as refused:
            await self._set_aside(refused.seq, refused.error)
            return False

    async def _set_aside_expired(self) -> int:
        cutoff = self._context.clock.now() - self._max_age
        async with self._context.sessions.begin() as session:
            rows = await store.expired_parked(session, parked_before=cutoff, limit=self._batch)
            for row in rows:
                hours = self._max_age.total_seconds() / 3600
                error = PermanentFailure(
                    f"no notice {row.notice_id} for record {row.record_id} within {hours:g} hours of the answer"
                )
                await self._dead_letter(session, row, error)
        return len(rows)

    async def _set_aside(self, seq: int | None, error: Exception) -> None:
        async with self._context.sessions.begin() as session:
            query = select(ParkedAnswer).where(col(ParkedAnswer.seq) == seq).with_for_update(skip_locked=True)
            row = (await session.execute(query)).scalars().first()
            if row is not None:
                await self._dead_letter(session, row, error)

    async def _dead_letter(self, session: AsyncSession, row: ParkedAnswer, error: Exception) -> None:
        try:
            body = self._opened(row)
        except SealError:
            body = row.body_sealed.encode()  # its key is gone: the sealed text is all there is to show
        with structlog.contextvars.bound_contextvars(event_id=row.event_id, correlation_id=row.record_id):
            await self._dead_letters.send(body, _Source(row), error, group=self._group)
        await store.unpark(session, row)

    def _opened(self, row: ParkedAnswer) -> bytes:
        return self._context.keyring.open_bytes(row.body_sealed, context=_context(row.event_id))


class _Refused(Exception):
    def __init__(self, seq: int | None, error: Exception) -> None:
        super().__init__(str(error))
        self.seq, self.error = seq, error


class _Source:
    """Where a parked answer came from, as a dead letter's headers name it (shared.kafka.failures)."""

    def __init__(self, row: ParkedAnswer) -> None:
        self.topic = row.source_topic
        self.partition = "" if row.source_partition is None else row.source_partition
        self.offset = "" if row.source_offset is None else row.source_offset


def _context(event_id: str) -> str:
    return f"parked-answer/{event_id}"
