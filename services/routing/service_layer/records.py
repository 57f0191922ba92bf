"""A submitted record becomes a case: a decision, its notices, or a review item.

Failure policy (subscriber on records.submitted): idempotent by event id.
The case, the decision, the notices and the processed-event row are written
in one transaction; the outgoing events (with ids derived from the incoming
event and the notices) are published before that commit. A crash in between
re-delivers the record: it is decided again, identically, and re-published
with the same ids, which consumers deduplicate. Codes unknown to the
directory go to the review queue. Database or broker errors are retried;
undecodable events dead-lettered (shared.kafka.failures).
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.adapters import store
from services.routing.adapters.emitter import Outgoing
from services.routing.domain.cases import Case
from services.routing.domain.routes import decide_route, review_reason
from services.routing.domain.workflow import open_case
from services.routing.service_layer.context import RoutingContext, notice_issued, record_routed
from shared.db.processed import already_processed, mark_processed
from shared.events import Envelope, Event, EventKind, RecordSubmitted
from shared.identity import person_key

log = structlog.get_logger(__name__)


class RecordHandler:
    def __init__(self, context: RoutingContext) -> None:
        self._context = context

    async def on_record_submitted(self, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, RecordSubmitted)
        async with self._context.sessions.begin() as session:
            if await already_processed(session, str(envelope.event_id)):
                log.info("duplicate event skipped")
                return
            outgoing = await self.route(session, envelope, event)
            await self._context.emitter.emit(outgoing)
            mark_processed(session, str(envelope.event_id))

    async def route(self, session: AsyncSession, envelope: Envelope, event: RecordSubmitted) -> list[Outgoing]:
        """Decide, store and return the events to publish, in the caller's transaction."""
        record, now = event.record, self._context.clock.now()
        review = review_reason(
            self._context.directory,
            reporting_street=record.reporting_street,
            residence_street=record.residence.street,
            registration=record.registration.division,
        )
        if review is not None:
            await store.add_review(session, event.record_id, review, record.reporting_street, now)
            log.warning("record sent to review", field=review.field)
            return []
        route = decide_route(reporting_street=record.reporting_street, residence_street=record.residence.street)
        step = open_case(Case.from_record(event.record_id, record, route), self._context.recipients())
        key = person_key(record.person.id_number, self._context.key_secret)
        if record.event is EventKind.OUTFLOW:
            await store.mark_outflow(session, person_key=key, now=now)
        await store.save_case(session, step.case, person_key=key, observed_at=record.observed_at, now=now)
        issued = await store.add_notices(session, step.notices, now=now)
        await store.save_decision(session, step.case, step.notices, now=now)
        log.info("record routed", route=route.value, notices=len(issued), status=step.case.status.value)
        routed = record_routed(step.case, cause=envelope, observed_at=record.observed_at, key=key, now=now)
        return [routed, *(notice_issued(n, step.case, key=key, now=now) for n in issued)]
