"""What every routing use case works with, built once by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters import case_store
from services.routing.adapters.emitter import Emitter, Outgoing
from services.routing.domain.cases import Case
from services.routing.domain.ids import derived_id
from services.routing.domain.notices import PlannedNotice
from services.routing.domain.recipients import Recipients
from services.routing.domain.schedule import AnswerDeadlines
from shared.clock import Clock
from shared.db.engine import reading_sessions
from shared.db.processed import already_processed, mark_processed
from shared.directory.changes import DivisionChanges, load_changes
from shared.directory.divisions import DivisionDirectory
from shared.events import Envelope, Event, NoticeIssued, RecordRouted
from shared.events.envelope import json_time, payload_envelope_json
from shared.kafka.failures import PermanentFailure
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

    @cached_property
    def reads(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for work that only reads: on SQLite they hold no batch back, and no batch holds them back."""
        return reading_sessions(self.sessions)


class NoticeWithoutCase(PermanentFailure):
    """A stored notice whose case is not stored: a notice is only written with its case, so no retry mends it.
    Names the notice and its record, never the person."""

    def __init__(self, notice_id: str, record_id: str) -> None:
        super().__init__(f"notice {notice_id} has no stored case (record {record_id})")


class ForeignEvent(PermanentFailure):
    """An event of another type on a topic routing consumes (a producer writing to the wrong topic): no retry
    makes it one routing handles there, and retried it would hold back its partition. Names the types only."""

    def __init__(self, found: str, expected: type[Event]) -> None:
        super().__init__(f"a {found} event on {expected.TOPIC}, where routing handles {expected.TYPE} only")


async def case_of_notice(
    session: AsyncSession, keyring: Keyring, *, notice_id: str, record_id: str, for_update: bool = False
) -> tuple[Case, str, datetime]:
    """The case of a stored notice, its person key and when the person was observed (case_store's
    `load_case_with_keys`, one read); NoticeWithoutCase when the case is not there."""
    found = await case_store.load_case_with_keys(session, record_id, keyring, for_update=for_update)
    if found is None:
        raise NoticeWithoutCase(notice_id, record_id)
    return found


def notice_issued(
    notice: PlannedNotice, case: Case, *, key: str, now: datetime, deadlines: AnswerDeadlines, keyring: Keyring
) -> Outgoing:
    """The NoticeIssued event of a planned notice: only what finds the person, never more,
    and whether (and by when) an answer is expected.

    The payload is written as NoticeIssued's JSON (its fields in order), not built as the model
    and dumped: a batch issues thousands, and every value comes from a validated record or the
    directory (tests/unit/test_routing_events.py holds it equal to the model's).
    """
    endpoint = notice.recipient.endpoint
    payload = {
        "notice_id": notice.notice_id,
        "record_id": case.record_id,
        "recipient_code": notice.recipient.code,
        "route": str(case.route),
        "reason": notice.reason,
        "person": {
            "name": case.name,
            "id_number": case.id_number,
            "residence_address": case.residence_address,
            "residence_street": case.residence_street,
        },
        "issued_at": json_time(now),
        "kind": str(notice.kind),
        "exchange_endpoint": endpoint.name if endpoint else None,
        "answer_expected": notice.awaits_answer,
        "answer_due": json_time(deadlines.due(now)) if notice.awaits_answer else None,
    }
    # one event per notice: its id follows from the notice's, so a replay re-emits the same id
    event_id = derived_id(notice.notice_id, NoticeIssued.TYPE)
    return _outgoing(
        NoticeIssued, payload, key=key, correlation_id=case.record_id, event_id=event_id, now=now, keyring=keyring
    )


def record_routed(case: Case, *, cause: Envelope, observed_at: datetime, key: str, now: datetime) -> Outgoing:
    """The RecordRouted event of a case, its payload written as RecordRouted's JSON (see notice_issued)."""
    payload = {
        "record_id": case.record_id,
        "route": str(case.route),
        "reporting_street": case.reporting_street,
        "residence_street": case.residence_street,
        "observed_at": json_time(observed_at),
        "decided_at": json_time(now),
    }
    event_id = derived_id(cause.event_id, RecordRouted.TYPE)
    return _outgoing(RecordRouted, payload, key=key, correlation_id=case.record_id, event_id=event_id, now=now)


def _outgoing(
    event_class: type[Event],
    payload: dict[str, Any],
    *,
    key: str,
    correlation_id: str,
    event_id: str,
    now: datetime,
    keyring: Keyring | None = None,
) -> Outgoing:
    # the event happened when the batch was decided: its `now`, whose text is written once a batch
    body = payload_envelope_json(
        event_class,
        payload,
        producer="routing",
        correlation_id=correlation_id,
        event_id=event_id,
        occurred_at=now,
        keyring=keyring,
    )
    return Outgoing(body, topic=event_class.TOPIC, key=key)


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
