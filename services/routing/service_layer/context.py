"""What every routing use case works with, built once by the composition root."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters.emitter import Emitter, Outgoing
from services.routing.domain.cases import Case
from services.routing.domain.ids import derived_id
from services.routing.domain.notices import PlannedNotice
from services.routing.domain.recipients import Recipients
from services.routing.domain.schedule import AnswerDeadlines
from shared.clock import Clock
from shared.db.processed import already_processed, mark_processed
from shared.directory.changes import DivisionChanges, load_changes
from shared.directory.divisions import DivisionDirectory
from shared.events import Envelope, Event, NoticeIssued, NoticePerson, RecordRouted, envelope_json
from shared.sealing import Keyring

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RoutingContext:
    sessions: async_sessionmaker[AsyncSession]
    emitter: Emitter
    recipients: Callable[[], Recipients]
    directory: DivisionDirectory
    clock: Clock
    key_secret: bytes
    keyring: Keyring
    deadlines: AnswerDeadlines = field(default_factory=AnswerDeadlines)
    # retired codes and their successors; the vendored table unless a test brings its own
    changes: DivisionChanges = field(default_factory=load_changes)


def notice_issued(
    notice: PlannedNotice, case: Case, *, key: str, now: datetime, deadlines: AnswerDeadlines, keyring: Keyring
) -> Outgoing:
    """The NoticeIssued event of a planned notice: only what finds the person, never more,
    and whether (and by when) an answer is expected."""
    event = NoticeIssued(
        notice_id=notice.notice_id,
        record_id=case.record_id,
        recipient_code=notice.recipient.code,
        route=case.route,
        reason=notice.reason,
        person=NoticePerson(
            name=case.name,
            id_number=case.id_number,
            residence_address=case.residence_address,
            residence_street=case.residence_street,
        ),
        issued_at=now,
        kind=notice.kind,
        exchange_endpoint=notice.recipient.endpoint.name if notice.recipient.endpoint else None,
        answer_expected=notice.awaits_answer,
        answer_due=deadlines.due(now) if notice.awaits_answer else None,
    )
    # one event per notice: its id follows from the notice's, so a replay re-emits the same id
    event_id = derived_id(notice.notice_id, NoticeIssued.TYPE)
    return _outgoing(event, key=key, correlation_id=case.record_id, event_id=event_id, keyring=keyring)


def record_routed(case: Case, *, cause: Envelope, observed_at: datetime, key: str, now: datetime) -> Outgoing:
    event = RecordRouted(
        record_id=case.record_id,
        route=case.route,
        reporting_street=case.reporting_street,
        residence_street=case.residence_street,
        observed_at=observed_at,
        decided_at=now,
    )
    event_id = derived_id(cause.event_id, RecordRouted.TYPE)
    return _outgoing(event, key=key, correlation_id=case.record_id, event_id=event_id)


def _outgoing(
    event: Event, *, key: str, correlation_id: str, event_id: uuid.UUID, keyring: Keyring | None = None
) -> Outgoing:
    body = envelope_json(event, producer="routing", correlation_id=correlation_id, event_id=event_id, keyring=keyring)
    return Outgoing(body, topic=event.TOPIC, key=key)


Apply = Callable[[AsyncSession], Awaitable[list[Outgoing]]]


async def handle_once(context: RoutingContext, envelope: Envelope, apply: Apply) -> None:
    """Exactly once in effect: the change, its events and the processed-event row in one transaction.

    A redelivered event finds its row and changes nothing.
    """
    async with context.sessions.begin() as session:
        if await already_processed(session, str(envelope.event_id)):
            log.info("duplicate event skipped")
            return
        outgoing = await apply(session)
        await context.emitter.emit(outgoing)
        mark_processed(session, str(envelope.event_id))
