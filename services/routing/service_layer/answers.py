"""An answer to a notice moves its case on: registration, re-routing, recheck, rejection.

Failure policy (subscriber on notices.answered, in batches): idempotent by
event id, in the same transaction as the cases, the answered notices and the
new notices, one transaction and one publication a batch, each answer applied
in turn in the order it came (an event twice in a batch, once); events are
published before the commit (see records.py). An answer to a notice this
store does not hold yet is parked (service_layer/parked.py), and so is any
later answer to the same notice while one waits: applied once the notice is
written, set aside when it never comes. An answer naming another record than
its notice's, a second answer to the same notice, corrections that can never
apply, or a notice whose case is not stored (NoticeWithoutCase) are
PermanentFailures: the batch is then handled one answer at a time
(shared.kafka.batches), the culprit dead-lettered with the error, and the
consumer goes on. Database or broker errors are retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.adapters import case_store, decision_store, notice_store, parked_store
from services.routing.adapters.emitter import Outgoing
from services.routing.adapters.tables import NoticeRow
from services.routing.domain.cases import Case, InvalidAnswer
from services.routing.domain.notices import PlannedNotice
from services.routing.domain.workflow import Step, answer, needs_issued
from services.routing.service_layer.context import (
    ForeignEvent,
    RoutingContext,
    case_of_notice,
    notice_issued,
    record_routed,
)
from services.routing.service_layer.parked import park
from shared.db.processed import mark_processed, new_events
from shared.events import Envelope, Event, NoticeAnswered
from shared.kafka.failures import PermanentFailure

log = structlog.get_logger(__name__)


class AnswerHandler:
    """`park`: an answer to a notice not stored yet waits for it (the running service, and a rebuild, which
    replays answers among the records in the order they happened). Without it such an answer is refused."""

    def __init__(self, context: RoutingContext, *, park: bool = False) -> None:
        self._context = context
        self._park = park

    async def on_notice_answered(self, envelope: Envelope, event: Event) -> None:
        """One answer alone (a rebuild's replay, a test): `on_answers` with one."""
        await self.on_answers([(envelope, event)])

    async def on_answers(self, events: list[tuple[Envelope, Event]]) -> None:
        """A batch of answers in one transaction and one publication, each applied in turn as it came."""
        answers: list[tuple[Envelope, NoticeAnswered]] = []
        for envelope, event in events:
            if not isinstance(event, NoticeAnswered):
                raise ForeignEvent(envelope.type, NoticeAnswered)
            answers.append((envelope, event))
        ids = [str(envelope.event_id) for envelope, _ in answers]
        async with self._context.sessions.begin() as session:
            fresh = await new_events(session, ids)
            unhandled = [feedback for envelope, feedback in answers if str(envelope.event_id) in fresh]
            held = await self._read_ahead(session, unhandled)
            outgoing: list[Outgoing] = []
            for envelope, feedback in answers:
                event_id = str(envelope.event_id)
                if event_id not in fresh:
                    log.info("duplicate event skipped", event_id=event_id)
                    continue
                fresh.discard(event_id)  # the same event twice in a batch is applied once
                with structlog.contextvars.bound_contextvars(event_id=event_id, correlation_id=envelope.correlation_id):
                    outgoing += await self.apply(session, envelope, feedback, held)
                mark_processed(session, event_id)
            await self._context.emitter.emit(outgoing)

    async def _read_ahead(self, session: AsyncSession, answers: list[NoticeAnswered]) -> ReadAhead:
        """What the batch's answers read, in three queries instead of three an answer. The notices and cases are
        held as read until the batch commits: on PostgreSQL by their rows' locks, on SQLite (the local run's
        store) by the transaction, which holds the whole store from its first read (build_engine). The answers of
        a record with an answer parked will be parked too: their notices and cases are left alone."""
        records = [feedback.record_id for feedback in answers]
        parked = await parked_store.records_with_parked(session, records) if self._park else set()
        applying = [feedback for feedback in answers if feedback.record_id not in parked]
        notices = await notice_store.lock_notices(session, [feedback.notice_id for feedback in applying])
        cases = await case_store.lock_cases_with_keys(
            session, [feedback.record_id for feedback in applying], self._context.keyring
        )
        return ReadAhead(parked, notices, cases)

    async def apply(
        self, session: AsyncSession, envelope: Envelope, feedback: NoticeAnswered, held: ReadAhead
    ) -> list[Outgoing]:
        """`held`: the batch's reads, made ahead; what they lack (a notice the batch's earlier answers stored) is
        read here."""
        # an answer of the record waits already: this one waits behind it, so that the record's answers, to
        # any of its notices (an outflow's transfer and its registration notice), apply in the order they came
        waiting = feedback.record_id in held.parked
        found = None if waiting else await _notice(session, feedback.notice_id, held)
        if self._park and found is None:
            park(session, envelope, feedback, keyring=self._context.keyring, now=self._context.clock.now())
            log.info("answer parked until its notice is stored", notice_id=feedback.notice_id, behind=waiting)
            held.parked.add(feedback.record_id)  # the record's later answers in the batch wait behind it
            return []
        return await self._answer(session, envelope, feedback, found, held)

    async def apply_now(self, session: AsyncSession, envelope: Envelope, feedback: NoticeAnswered) -> list[Outgoing]:
        """Apply the answer to its stored notice (a parked one); PermanentFailure when it never can be."""
        found = await notice_store.load_notice(session, feedback.notice_id, for_update=True)
        return await self._answer(session, envelope, feedback, found)

    async def _answer(
        self,
        session: AsyncSession,
        envelope: Envelope,
        feedback: NoticeAnswered,
        found: tuple[PlannedNotice, NoticeRow] | None,
        held: ReadAhead | None = None,
    ) -> list[Outgoing]:
        answered, row = _unanswered(feedback, found)
        # locked: the case is saved whole below, and an outflow marking it meanwhile must not be overwritten
        case, key, observed_at = (held and held.cases.get(answered.record_id)) or await case_of_notice(
            session, self._context.keyring, notice_id=answered.notice_id, record_id=answered.record_id, for_update=True
        )
        step = await self._next_step(session, case, answered, feedback)
        now = self._context.clock.now()
        row.answered_at, row.result = feedback.answered_at, feedback.result.value
        issued = await self._save_step(session, step, key=key, observed_at=observed_at, now=now)
        if held is not None:
            held.cases[answered.record_id] = (step.case, key, observed_at)  # as saved: the batch's next answer's
        outgoing = [
            notice_issued(
                n, step.case, key=key, now=now, deadlines=self._context.deadlines, keyring=self._context.keyring
            )
            for n in issued
        ]
        if step.routed:
            outgoing.insert(0, await _save_route(session, envelope, step, observed_at=observed_at, key=key, now=now))
        log.info(
            "notice answered",
            notice_id=feedback.notice_id,
            result=feedback.result.value,
            version=step.case.version,
            notices=len(issued),
        )
        return outgoing

    async def _next_step(
        self, session: AsyncSession, case: Case, answered: PlannedNotice, feedback: NoticeAnswered
    ) -> Step:
        """What the answer does to the case (workflow.answer); an answer it refuses never applies: PermanentFailure."""
        # a rejection or a relay needs the notices the case holds (workflow.needs_issued): looked up for those alone
        held: frozenset[str] = frozenset()
        if needs_issued(case, answered, feedback):
            held = frozenset(n.notice_id for n in await notice_store.notices_of(session, case.record_id))
        try:
            return answer(
                case,
                answered,
                feedback,
                self._context.recipients(),
                self._context.directory,
                issued=held,
            )
        except InvalidAnswer as error:
            raise PermanentFailure(str(error)) from error

    async def _save_step(
        self, session: AsyncSession, step: Step, *, key: str, observed_at: datetime, now: datetime
    ) -> list[PlannedNotice]:
        """The case as the answer left it, and the notices it causes; returns those new (as notice_store.add_notices
        does)."""
        case_row = case_store.case_row(
            step.case, person_key=key, observed_at=observed_at, now=now, keyring=self._context.keyring
        )
        return await case_store.save_case_and_notices(session, case_row, step.notices, now=now)


@dataclass(slots=True)
class ReadAhead:
    """A batch's reads, made before its first answer and kept as its answers change them: the records with an
    answer parked, the notices answered (locked, their rows the session's to flush) and their cases (locked, each
    as the batch's last answer of it saved it)."""

    parked: set[str]
    notices: dict[str, tuple[PlannedNotice, NoticeRow]]
    cases: dict[str, tuple[Case, str, datetime]]


async def _notice(session: AsyncSession, notice_id: str, held: ReadAhead) -> tuple[PlannedNotice, NoticeRow] | None:
    """The answered notice, locked: read ahead, or read now (one the batch's earlier answers stored)."""
    return held.notices.get(notice_id) or await notice_store.load_notice(session, notice_id, for_update=True)


def _unanswered(
    feedback: NoticeAnswered, found: tuple[PlannedNotice, NoticeRow] | None
) -> tuple[PlannedNotice, NoticeRow]:
    """The notice `feedback` answers, and its row; PermanentFailure when it is not the record's or was answered."""
    # the notice is locked: two answers to it (two partitions, two job runners) apply one after the other,
    # and the second sees the first's answer
    if found is None or found[0].record_id != feedback.record_id:
        raise PermanentFailure(f"no notice {feedback.notice_id} for record {feedback.record_id}")
    answered, row = found
    if row.answered_at is not None:
        raise PermanentFailure(f"notice {feedback.notice_id} was answered already ({row.result})")
    return answered, row


async def _save_route(
    session: AsyncSession, envelope: Envelope, step: Step, *, observed_at: datetime, key: str, now: datetime
) -> Outgoing:
    """The route the answer decided again: its decision stored, and its RecordRouted event."""
    await decision_store.save_decisions(session, [decision_store.decision_row(step.case, step.notices, now=now)])
    return record_routed(step.case, cause=envelope, observed_at=observed_at, key=key, now=now)
