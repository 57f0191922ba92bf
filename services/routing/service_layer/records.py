"""Submitted records become cases: decisions, their notices, or review items.

Failure policy (batch subscriber on records.submitted, see
shared.kafka.consuming.subscribe_batch): one transaction per batch holds the
cases, decisions, notices, review items and processed-event rows; events
already processed are skipped by id. The batch is written in runs (`RUN`);
each run's outgoing events (ids derived from the incoming event and the
notices) are handed to the broker once the run is written, and all are
confirmed before the commit. A crash or an error before the commit
re-delivers the batch: it is decided again, identically, and re-published
with the same ids, which consumers deduplicate. Codes
unknown to the directory go to the review queue, never to the dead-letter
topic. Database or broker errors are retried (the batch comes again);
undecodable events, and events of another type than RecordSubmitted, are
dead-lettered one by one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.adapters import case_store, decision_store, review_store
from services.routing.adapters.emitter import Outgoing, Publication
from services.routing.domain.cases import Case, current_residence, outflow_of
from services.routing.domain.notices import PlannedNotice
from services.routing.domain.recipients import Recipients
from services.routing.domain.review import kept_record
from services.routing.domain.routes import decide_route, review_reason
from services.routing.domain.schedule import AnswerDeadlines
from services.routing.domain.succession import noted, to_current_codes
from services.routing.domain.workflow import Step, open_case
from services.routing.service_layer.context import ForeignEvent, RoutingContext, notice_issued, record_routed
from shared.events import Envelope, Event, EventKind, RecordRouted, RecordSubmitted
from shared.identity import person_key
from shared.sealing import Keyring

log = structlog.get_logger(__name__)
RUN = 500  # decisions written by one statement: the next run is decided while one is written


@dataclass(frozen=True, slots=True)
class _Routed:
    cause: Envelope
    record: RecordSubmitted
    step: Step
    key: str
    note: str | None = None
    left_street: str = ""  # the record's residence (current code): for an outflow, the street the person left


@dataclass
class _Pending:
    """Decisions made in this batch and not yet written."""

    routed: list[_Routed] = field(default_factory=list)
    reviews: list[dict[str, object]] = field(default_factory=list)


class RecordHandler:
    def __init__(self, context: RoutingContext) -> None:
        self._context = context

    async def on_record_submitted(self, envelope: Envelope, event: Event) -> None:
        await self.on_records([(envelope, event)])

    async def on_records(self, events: list[tuple[Envelope, Event]]) -> None:
        """Route a batch in one unit of work."""
        records = _records_only(events)
        ids = [str(envelope.event_id) for envelope, _ in records]
        record_ids = [event.record_id for _, event in records]
        async with self._context.sessions.begin() as session:
            fresh, seen = await decision_store.new_work(session, ids, record_ids)
            todo = _once_each(ids, records, fresh)
            if len(todo) < len(events):
                log.info("duplicate events skipped", count=len(events) - len(todo))
            first = _first_of_each_record(todo, seen)
            if len(first) < len(todo):
                # a producer that re-sent a record without its outbox: its decision, notices and events were
                # made the first time, and its case may have moved on (answered, gone), or its review item
                # (corrected in part); deciding it again would put either back where a new record starts
                log.info("records seen before skipped", count=len(todo) - len(first))
            publication = self._context.emitter.publication()
            try:
                outgoing = await self.route(session, first, processed=list(todo), publication=publication)
                await publication.confirmed()
            except BaseException:
                publication.abandon()  # the batch comes again; what was handed over is re-sent with the same ids
                raise
        # one line per batch: a log line per record costs more than routing the record
        routes = Counter(o.body["payload"]["route"] for o in outgoing if o.type == RecordRouted.TYPE)
        log.info("records routed", records=len(first), routes=dict(routes), events=len(outgoing))

    async def route(
        self,
        session: AsyncSession,
        todo: list[tuple[Envelope, RecordSubmitted]],
        *,
        processed: list[str] | None = None,
        publication: Publication | None = None,
    ) -> list[Outgoing]:
        """Decide and store records inside the caller's transaction; returns the events to publish.
        Derived ids follow from each envelope (the submission, or a review resolution). `processed`:
        event ids to mark handled with the last write. `publication`: where each run's events are
        handed over as soon as the run is written (the caller awaits their confirmation)."""
        now, recipients = self._context.clock.now(), self._context.recipients()
        writer = _Writer(session, now, self._context.deadlines, self._context.keyring, publication)
        pending = _Pending()
        try:
            for envelope, event in todo:
                routed = self._decide(envelope, event, recipients, pending, now)
                if routed is not None and event.record.event is EventKind.OUTFLOW:
                    # the person's cases it leaves (this batch's included) are marked after they are written;
                    # an outflow sent to review marks nothing: whose cases it closes is not decided yet
                    await writer.write(pending)
                    await writer.settle()
                    await case_store.mark_outflow(
                        session,
                        person_key=routed.key,
                        outflow=event.record_id,
                        left_street=routed.left_street,
                        observed_at=event.record.observed_at,
                        now=now,
                    )
                    pending = _Pending()
                elif len(pending.routed) + len(pending.reviews) >= RUN:
                    await writer.write(pending)  # the next run is decided while this one is written
                    pending = _Pending()
            await writer.write(pending, processed=processed)
            await writer.settle()
        finally:
            await writer.stop()
        return writer.outgoing

    def _decide(
        self, cause: Envelope, event: RecordSubmitted, recipients: Recipients, pending: _Pending, now: datetime
    ) -> _Routed | None:
        """Add the record's decision, or its review item, to `pending`; returns the decision (None: to review)."""
        succession = to_current_codes(event.record, self._context.changes)
        record = succession.record
        street, _ = current_residence(record)
        review = succession.review or review_reason(
            self._context.directory,
            reporting_street=record.reporting_street,
            residence_street=street,
            registration=record.registration.division,
            residence_field="residence.street" if street == record.residence.street else "new_residence.street",
        )
        if review is not None:
            row = review_store.review_row(
                event.record_id, review, record.reporting_street, now, kept_record(record), self._context.keyring
            )
            pending.reviews.append(row)
            log.warning("record sent to review", correlation_id=event.record_id, field=review.field, kind=review.kind)
            return None
        route = decide_route(reporting_street=record.reporting_street, residence_street=street)
        step = noted(
            open_case(Case.from_record(event.record_id, record, route), recipients, outflow_of(record)),
            succession.note(),
        )
        key = person_key(record.person.id_number, self._context.key_secret)
        routed = _Routed(cause, event, step, key, succession.note(), left_street=record.residence.street)
        pending.routed.append(routed)
        return routed


class _Writer:
    """Writes decisions a run at a time, one statement in flight.

    While a run's statement is with the database, its events are built, the
    run before's events are handed to the publication, and the caller decides
    the next run: the database's time is not routing's wait (docs/performance.md,
    rounds 9 and 29). Nothing touches the session while a statement is in flight.
    """

    def __init__(
        self,
        session: AsyncSession,
        now: datetime,
        deadlines: AnswerDeadlines,
        keyring: Keyring,
        publication: Publication | None,
    ) -> None:
        self._session, self._now, self._deadlines, self._keyring = session, now, deadlines, keyring
        self._publication = publication
        self._saving: asyncio.Future[list[PlannedNotice]] | None = None
        self._events: list[tuple[Outgoing, list[tuple[str, Outgoing]]]] = []
        self.outgoing: list[Outgoing] = []  # every event of what was written, in order

    async def write(self, pending: _Pending, *, processed: list[str] | None = None) -> None:
        """Start writing a run of decisions (and mark `processed` handled), once the run before is back."""
        written = await self._back()
        now, keyring = self._now, self._keyring
        # `on_records` hands each record over once; for any other caller, of one record twice the last wins
        routed = list({r.record.record_id: r for r in pending.routed}.values())
        await review_store.add_reviews(self._session, pending.reviews)
        self._saving = asyncio.ensure_future(
            decision_store.save_routed(
                self._session,
                cases=[_case_row(r, now, keyring) for r in routed],
                decisions=[
                    decision_store.decision_row(r.step.case, r.step.notices, now=now, note=r.note) for r in routed
                ],
                notices=[notice for r in routed for notice in r.step.notices],
                processed=processed or [],
                now=now,
            )
        )
        await asyncio.sleep(0)  # the statement leaves before anything else is done
        await self._hand_over(written)
        self._events = [_events(r, now, self._deadlines, keyring) for r in routed]

    async def settle(self) -> None:
        """Wait for the statement in flight, and hand its events over."""
        await self._hand_over(await self._back())

    async def stop(self) -> None:
        """See out a statement still in flight (after an error), whatever it ends in, so the transaction
        is not rolled back under it. Cancelled meanwhile (a second cancellation at shutdown), the statement
        is cancelled too (asyncpg's cancel leaves the connection clean) and the cancellation raised once it is over."""
        saving, self._saving = self._saving, None
        if saving is None:
            return
        cancelled: asyncio.CancelledError | None = None
        while not saving.done():
            try:
                await asyncio.wait([saving])
            except asyncio.CancelledError as cancellation:
                cancelled = cancellation
                saving.cancel()
        if not saving.cancelled():
            saving.exception()  # retrieved: the error that stopped the caller is the one to raise
        if cancelled is not None:
            raise cancelled

    async def _back(self) -> list[Outgoing]:
        """The events of the run in flight once its statement is back: a notice issued before
        (the same case version, recipient and kind) is not announced again."""
        if self._saving is None:
            return []
        issued = {n.notice_id for n in await self._saving}  # on an error, left for `stop` to see out
        self._saving = None
        written = []
        for routed_event, notices in self._events:
            written.append(routed_event)
            written += [event for notice_id, event in notices if notice_id in issued]
        self.outgoing += written
        return written

    async def _hand_over(self, events: list[Outgoing]) -> None:
        if events and self._publication is not None:
            await self._publication.hand_over(events)


def _events(
    r: _Routed, now: datetime, deadlines: AnswerDeadlines, keyring: Keyring
) -> tuple[Outgoing, list[tuple[str, Outgoing]]]:
    """A decision's RecordRouted, and the NoticeIssued of each of its notices by notice id."""
    case = r.step.case
    notices = [
        (n.notice_id, notice_issued(n, case, key=r.key, now=now, deadlines=deadlines, keyring=keyring))
        for n in r.step.notices
    ]
    return record_routed(case, cause=r.cause, observed_at=r.record.record.observed_at, key=r.key, now=now), notices


def _case_row(routed: _Routed, now: datetime, keyring: Keyring) -> dict[str, object]:
    observed = routed.record.record.observed_at
    return case_store.case_row(routed.step.case, person_key=routed.key, observed_at=observed, now=now, keyring=keyring)


def _first_of_each_record(
    todo: dict[str, tuple[Envelope, RecordSubmitted]], seen_before: set[str]
) -> list[tuple[Envelope, RecordSubmitted]]:
    """The events of records not seen before, the first of each record only (the later ones of a
    record are the same record, submitted again under another event id)."""
    seen, first = set(seen_before), []
    for envelope, event in todo.values():
        if event.record_id not in seen:
            seen.add(event.record_id)
            first.append((envelope, event))
    return first


def _records_only(events: list[tuple[Envelope, Event]]) -> list[tuple[Envelope, RecordSubmitted]]:
    """The batch as records; ForeignEvent (dead-lettered alone) for an event of another type on the topic."""
    records = []
    for envelope, event in events:
        if not isinstance(event, RecordSubmitted):
            raise ForeignEvent(envelope.type, RecordSubmitted)
        records.append((envelope, event))
    return records


def _once_each(
    ids: list[str], records: list[tuple[Envelope, RecordSubmitted]], fresh: set[str]
) -> dict[str, tuple[Envelope, RecordSubmitted]]:
    """The unprocessed events by id (`ids`, of `records`), each once, in order."""
    todo: dict[str, tuple[Envelope, RecordSubmitted]] = {}
    for event_id, (envelope, event) in zip(ids, records, strict=True):
        if event_id in fresh:
            todo.setdefault(event_id, (envelope, event))
    return todo
