"""Answers that came before their notice was stored: parked, applied once it is, set aside if it never comes.

A notice's event reaches the topic before the batch that writes its row
commits: a batch hands each run's events to the producer as soon as the run
is written (records.py), and one that fails after that commits only when it
is tried again, a retry pause later. A street that answers in between (an
integrator's system can answer a webhook within milliseconds) would find no
notice here. Such an answer is parked (`park`, in the answer's own
transaction, which marks its event handled), and so is any later answer to
a notice of the same record while one waits, so that a record's answers (to
an outflow's transfer and its registration notice alike) apply in the order
they came.

Failure policy (background job `parked-answers`, once per deployment): each
pass applies, one transaction each and oldest first, every parked answer
whose notice is stored now: the answer's effects, its events (published
before the commit) and the parked row's removal commit together, so a crash
applies it again or not at all, never twice. The parked row and the notice
are locked, never skipped: should two runners overlap (a fail-over), the
second waits for the answer the first holds, and sees it applied. An answer
that can never apply (answered already, corrections that do not fit, another
record's notice) goes to the dead-letter topic as the subscriber would have
sent it, with where it came from, its row is removed, and its event is no
longer marked handled (so `popflow dead-letters replay` is not skipped). An answer whose
notice has not come within ROUTING_PARKED_ANSWER_MAX_AGE_S is set aside the
same way ("no notice ... within ..."), and so is one that still fails for a
passing reason once it waited that long. An answer that fails for a passing
reason holds back the later answers of its record for the pass, so that none
overtakes it, while other records' answers go on; failures of two records
(database or broker down) end the pass's applying. The answers too old are set
aside all the same, and the pass is tried again at the next interval. A dead
letter sent by a pass whose commit then failed is sent again, and `popflow
dead-letters show` counts the repeat instead of listing it twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.adapters import parked_store
from services.routing.adapters.emitter import Outgoing
from services.routing.adapters.tables import ParkedAnswer
from services.routing.service_layer.context import RoutingContext
from shared.background import every
from shared.db.processed import unmark_processed
from shared.events import Envelope, NoticeAnswered, parse_event
from shared.kafka.consuming import InHand, message_in_hand
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
    # outside a subscriber (a test calling the handler) the envelope is the message, from nowhere known
    event_id = str(envelope.event_id)
    in_hand = message_in_hand(event_id) or InHand(envelope.model_dump_json().encode(), NoticeAnswered.TOPIC, None, None)
    session.add(
        ParkedAnswer(
            event_id=event_id,
            notice_id=feedback.notice_id,
            record_id=feedback.record_id,
            body_sealed=keyring.seal_bytes(in_hand.body, context=_context(event_id)),
            source_topic=in_hand.topic,
            source_partition=in_hand.partition,
            source_offset=in_hand.offset,
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
        await every(interval_s, self.run_once, failed="parked answers pass failed")

    async def run_once(self) -> Passed:
        """One pass: every parked answer whose notice is stored, oldest first, then those too old.

        An answer that fails for a passing reason holds back its record's later answers for this pass, so
        that none overtakes it, and the other records' answers go on; a second record's failure (the
        database or the broker down) ends the applying. The answers too old are set aside all the same,
        and the failure is raised after.
        """
        applied = set_aside = 0
        failure: Exception | None = None
        held: set[str] = set()  # records one of whose answers failed for a passing reason in this pass
        try:
            while ready := [(seq, record) for seq, record in await self._ready() if record not in held]:
                outcomes = []
                for seq, record in ready:
                    if record in held:
                        continue  # its earlier answer failed: a later one must not overtake it
                    try:
                        outcomes.append(await self._apply(seq))
                    except Exception as error:
                        if held:  # answers of two records failed: the store or the broker is down
                            raise
                        held.add(record)
                        failure = error
                applied += outcomes.count(True)
                set_aside += outcomes.count(False)
                if all(outcome is None for outcome in outcomes):
                    break  # another runner took them all (or every one left is held): it goes on with the rest
        except Exception as error:
            failure = error
        while expired := await self._set_aside_expired():
            set_aside += expired
        if applied or set_aside:
            log.info("parked answers pass", applied=applied, set_aside=set_aside)
        if failure is not None:
            raise failure
        return Passed(applied, set_aside)

    def measure(self, metrics: Metrics) -> None:
        """Report how many answers wait as `popflow_parked_answers` on every scrape."""

        async def read() -> Samples:
            async with self._context.reads() as session:
                return [((), float(await parked_store.parked_count(session)))]

        metrics.gauge("popflow_parked_answers", "Answers waiting for their notice to be stored", [], read)

    async def _ready(self) -> list[tuple[int, str]]:
        async with self._context.reads() as session:
            return await parked_store.ready_parked(session, limit=self._batch)

    async def _apply(self, seq: int) -> bool | None:
        """Apply the parked answer at `seq`: True when applied, False when set aside (it can never apply,
        or still fails past the maximum age), None when it is gone (another runner applied it)."""
        try:
            async with self._context.sessions.begin() as session:
                row = await parked_store.parked_at(session, seq)
                if row is None:
                    return None
                with structlog.contextvars.bound_contextvars(event_id=row.event_id, correlation_id=row.record_id):
                    try:
                        envelope = Envelope.model_validate_json(self._opened(row))
                        event = parse_event(envelope, self._context.keyring)
                        assert isinstance(event, NoticeAnswered)
                        outgoing = await self._apply_now(session, envelope, event)
                        await self._context.emitter.emit(outgoing)
                    except Exception as error:
                        if is_permanent(error):
                            raise _Refused(seq, error) from error  # rolls back whatever it wrote
                        if self._expired(row):  # retried for as long as it waited: it never will apply
                            reason = f"not applied within {_span(self._max_age)} of the answer ({type(error).__name__})"
                            raise _Refused(seq, PermanentFailure(reason)) from error
                        log.warning(
                            "parked answer not applied, tried again next pass",
                            notice_id=row.notice_id,
                            error=type(error).__name__,
                        )
                        raise
                    await parked_store.unpark(session, row)
                    log.info("parked answer applied", notice_id=row.notice_id)
                    return True
        except _Refused as refused:
            return False if await self._set_aside(refused.seq, refused.error) else None

    def _expired(self, row: ParkedAnswer) -> bool:
        return row.parked_at < self._context.clock.now() - self._max_age

    async def _set_aside_expired(self) -> int:
        """Sets aside the answers too old, oldest first. A dead letter Kafka refuses ends the pass there, the
        answers set aside before it unparked all the same: rolled back with it, they were set aside again on
        the next pass, their dead letters sent twice."""
        cutoff = self._context.clock.now() - self._max_age
        refused: Exception | None = None
        async with self._context.sessions.begin() as session:
            rows = await parked_store.expired_parked(session, parked_before=cutoff, limit=self._batch)
            for row in rows:
                error = PermanentFailure(
                    f"no notice {row.notice_id} for record {row.record_id} within {_span(self._max_age)} of the answer"
                )
                if (refused := await self._dead_letter(session, row, error)) is not None:
                    break
        if refused is not None:
            raise refused
        return len(rows)

    async def _set_aside(self, seq: int, error: Exception) -> bool:
        """False when the answer is gone (another runner set it aside between the refusal and here)."""
        async with self._context.sessions.begin() as session:
            row = await parked_store.parked_at(session, seq)
            if row is None:
                return False
            if (refused := await self._dead_letter(session, row, error)) is not None:
                raise refused
            return True

    async def _dead_letter(self, session: AsyncSession, row: ParkedAnswer, error: Exception) -> Exception | None:
        """Sets the answer aside: None once Kafka took its dead letter and it is unparked in `session`, else
        why Kafka did not (the answer stays parked; `session` is left as it was)."""
        try:
            body = self._opened(row)
        except SealError:
            body = row.body_sealed.encode()  # its key is gone: the sealed text is all there is to show
        with structlog.contextvars.bound_contextvars(event_id=row.event_id, correlation_id=row.record_id):
            try:
                await self._dead_letters.send(body, _Source(row), error, group=self._group)
            except Exception as refused:
                return refused
        await parked_store.unpark(session, row)
        await unmark_processed(session, row.event_id)  # not handled after all: a replay of it is handled
        return None

    def _opened(self, row: ParkedAnswer) -> bytes:
        return self._context.keyring.open_bytes(row.body_sealed, context=_context(row.event_id))


class _Refused(Exception):
    def __init__(self, seq: int, error: Exception) -> None:
        super().__init__(str(error))
        self.seq, self.error = seq, error


class _Source:
    """Where a parked answer came from, as a dead letter's headers name it (shared.kafka.failures)."""

    def __init__(self, row: ParkedAnswer) -> None:
        self.topic = row.source_topic
        self.partition = "" if row.source_partition is None else row.source_partition
        self.offset = "" if row.source_offset is None else row.source_offset


def _span(span: timedelta) -> str:
    """A maximum age as a person says it: "24 hours", "90 minutes", "15 seconds"."""
    seconds = span.total_seconds()
    for unit, length in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= length and seconds % length == 0 and not (unit == "day" and seconds < 2 * 86_400):
            count = int(seconds // length)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def _context(event_id: str) -> str:
    return f"parked-answer/{event_id}"
