"""The bureau works the review queue: a corrected code routes the record again, or the item is dismissed.

The bureau's request (`resolve`) is checked and published as a ReviewResolved
event; routing's own subscriber applies it, so `popflow routing rebuild`
replays resolutions like any other input.

Failure policy (subscriber on reviews.resolved): idempotent by event id, in
the same transaction as the item, the case, the decision and its notices;
events are published before the commit (see records.py), with ids derived
from the resolution's event id. A resolution of an item resolved already
(two resolutions sent at once, both checked while the item was open), or of
an item that waits on another field since (the first corrected it but it
still could not be routed), is left unapplied with a warning: the first
applied stands, and the item shows what it is now (its field, and the
corrected record with its reporting street). A resolution of an unknown
item, or one that can never apply (an item without its record), is a
PermanentFailure: dead-lettered, and the consumer goes on. Database or
broker errors are retried.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.adapters import review_store
from services.routing.adapters.emitter import Outgoing
from services.routing.domain.review import UncorrectableItem, corrected_record, correction_problem
from services.routing.service_layer.context import ForeignEvent, RoutingContext, handle_once
from services.routing.service_layer.records import RecordHandler
from shared.auth import Action, Principal
from shared.events import Envelope, Event, RecordRouted, RecordSubmitted, Resolution, ReviewResolved, envelope_json
from shared.kafka.failures import PermanentFailure

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ResolutionRefused(Exception):
    """The request cannot be accepted: `status` 404 (no open item in scope), 409 or 422, and why."""

    status: int
    detail: str


async def resolve(
    context: RoutingContext,
    principal: Principal,
    record_id: str,
    *,
    resolution: Resolution,
    code: str | None,
    reason: str | None,
    acting: str,
) -> ReviewResolved:
    """Check the bureau's resolution against the item and publish it; routing applies it as it arrives."""
    async with context.reads() as session:
        item = await review_store.load_review(session, record_id)
    if item is None or not principal.may(Action.SUPERVISE, item.reporting_street):
        raise ResolutionRefused(404, "No review item for this record in your district.")
    if item.resolved_at is not None:
        raise ResolutionRefused(409, f"The item was resolved already ({item.resolution}).")
    if resolution is Resolution.CORRECTED:
        if item.record_sealed is None:
            raise ResolutionRefused(409, "The item was queued without its record; it can only be dismissed.")
        if code is None:
            raise ResolutionRefused(422, "a corrected resolution gives the corrected code")
        if problem := correction_problem(context.directory, field=item.field, code=code):
            raise ResolutionRefused(422, problem)
        if item.field == "reporting_street" and not principal.may(Action.SUPERVISE, code):
            # the record would be filed as another district's report: intake refuses this key that submission
            raise ResolutionRefused(422, f"reporting_street must be a street of your own district, not {code}")
    event = ReviewResolved(
        record_id=record_id,
        resolution=resolution,
        field=item.field,
        code=code if resolution is Resolution.CORRECTED else None,
        reason=reason,
        resolved_by=acting,
        resolved_at=context.clock.now(),
    )
    # it happened when it was resolved: a rebuild replays it at that moment, among the records (rebuild.py)
    body = envelope_json(
        event, producer="routing", correlation_id=record_id, occurred_at=event.resolved_at, keyring=context.keyring
    )
    await context.emitter.emit([Outgoing(body, topic=event.TOPIC, key=record_id)])
    return event


class ReviewHandler:
    def __init__(self, context: RoutingContext) -> None:
        self._context = context
        self._records = RecordHandler(context)

    async def on_review_resolved(self, envelope: Envelope, event: Event) -> None:
        if not isinstance(event, ReviewResolved):
            raise ForeignEvent(envelope.type, ReviewResolved)
        await handle_once(self._context, envelope, lambda session: self.apply(session, envelope, event))

    async def apply(self, session: AsyncSession, envelope: Envelope, event: ReviewResolved) -> list[Outgoing]:
        item = await review_store.load_review(session, event.record_id, for_update=True)
        if item is None:
            raise PermanentFailure(f"no review item for record {event.record_id}")
        if item.resolved_at is not None:
            # two of the bureau's staff resolved it at once: both requests found it open, the first applied wins
            log.warning(
                "review item resolved already; a later resolution left unapplied",
                correlation_id=event.record_id,
                resolution=event.resolution.value,
                kept=item.resolution,
            )
            return []
        if event.field != item.field:
            # another resolution corrected the item, which could still not be routed and waits on another field:
            # this one was checked against what the item was, so the bureau decides again on what it is now
            log.warning(
                "review item changed since this resolution was checked; left unapplied",
                correlation_id=event.record_id,
                resolution=event.resolution.value,
            )
            return []
        if event.resolution is Resolution.DISMISSED:
            review_store.close_review(item, event)
            log.info("review item dismissed", correlation_id=event.record_id)
            return []
        assert event.code is not None, "the contract requires a code with 'corrected'"
        try:
            record = corrected_record(
                review_store.review_record(item, self._context.keyring), field=event.field, code=event.code
            )
        except UncorrectableItem as error:
            raise PermanentFailure(str(error)) from error
        again = RecordSubmitted(record_id=item.record_id, received_at=item.received_at, record=record)
        outgoing = await self._records.route(session, [(envelope, again)])
        routed = any(o.type == RecordRouted.TYPE for o in outgoing)
        if routed:
            review_store.close_review(item, event)
        log.info("review item corrected", correlation_id=event.record_id, routed=routed)
        return outgoing
