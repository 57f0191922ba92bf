"""Routing's service layer: a submitted record becomes a decision and its notice.

Failure policy (subscriber on records.submitted): idempotent by event id.
The outgoing events carry ids derived from the incoming one, and are
published before the decision and the processed-event row are committed
together. A crash in between re-delivers the record; it is decided again,
identically, and re-published with the same ids, which consumers
deduplicate. Database or broker errors are retried; undecodable events are
dead-lettered (shared.kafka.failures).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.adapters.tables import RoutedRecord
from services.routing.domain.notices import transfer_notice
from services.routing.domain.routes import decide_route
from shared.db.processed import already_processed, mark_processed
from shared.events import (
    Envelope,
    Event,
    NoticeIssued,
    NoticeKind,
    NoticePerson,
    RecordRouted,
    RecordSubmitted,
    new_envelope,
)
from shared.identity import person_key
from shared.kafka.broker import EventPublisher

log = structlog.get_logger(__name__)


class RecordRouter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: EventPublisher,
        *,
        key_secret: bytes,
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._key_secret = key_secret

    async def on_record_submitted(self, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, RecordSubmitted)
        async with self._sessions.begin() as session:
            if await already_processed(session, str(envelope.event_id)):
                log.info("duplicate event skipped")
                return
            decided = await self._route(envelope, event)
            session.add(decided)
            mark_processed(session, str(envelope.event_id))
        log.info("record routed", route=decided.route)

    async def _route(self, envelope: Envelope, event: RecordSubmitted) -> RoutedRecord:
        record, now = event.record, datetime.now(UTC)
        route = decide_route(reporting_street=record.reporting_street, residence_street=record.residence.street)
        key = person_key(record.person.id_number, self._key_secret)
        routed = RecordRouted(
            record_id=event.record_id,
            route=route,
            reporting_street=record.reporting_street,
            residence_street=record.residence.street,
            observed_at=record.observed_at,
            decided_at=now,
        )
        await self._emit(routed, envelope, key)
        planned = transfer_notice(record_id=event.record_id, route=route, residence_street=record.residence.street)
        if planned is not None:
            notice = NoticeIssued(
                notice_id=planned.notice_id,
                record_id=event.record_id,
                recipient_code=planned.recipient_code,
                route=route,
                reason=planned.reason,
                person=NoticePerson(
                    name=record.person.name,
                    id_number=record.person.id_number,
                    residence_address=record.residence.address,
                ),
                issued_at=now,
                kind=NoticeKind.TRANSFER,
            )
            await self._emit(notice, envelope, key)
        return RoutedRecord(
            record_id=event.record_id,
            route=route.value,
            reporting_street=record.reporting_street,
            residence_street=record.residence.street,
            notice_id=planned.notice_id if planned else None,
            decided_at=now,
        )

    async def _emit(self, event: Event, cause: Envelope, key: str) -> None:
        derived_id = uuid.uuid5(cause.event_id, event.TYPE)
        envelope = new_envelope(event, producer="routing", correlation_id=cause.correlation_id, event_id=derived_id)
        await self._publisher.publish(envelope, topic=event.TOPIC, key=key)
