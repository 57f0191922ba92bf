"""The review queue (records routing could not decide), written and read inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.routing.adapters.tables import ReviewItem
from services.routing.adapters.upserts import insert_for
from services.routing.domain.routes import NeedsReview
from shared.events import ReviewResolved
from shared.sealing import Keyring


def review_row(
    record_id: str, review: NeedsReview, reporting: str, now: datetime, record: dict[str, Any], keyring: Keyring
) -> dict[str, Any]:
    """The review item as `add_reviews` queues it: why the record waits, in the queue of its reporting street's
    district, with the record sealed to its id (`review_record` opens it when the bureau corrects the item)."""
    return {
        "record_id": record_id,
        "field": review.field,
        "reason": review.reason,
        "kind": review.kind,
        "reporting_street": reporting,
        "received_at": now,
        "record_sealed": keyring.seal(record, context=f"{record_id}/review"),
    }


def review_record(item: ReviewItem, keyring: Keyring) -> dict[str, Any] | None:
    """The item's record (routing fields), opened; None for items queued without it."""
    if item.record_sealed is None:
        return None
    record: dict[str, Any] = keyring.open(item.record_sealed, context=f"{item.record_id}/review")
    return record


# what a correction that still cannot be routed changes of its item (the rest: its record id and age)
REQUEUED_FIELDS = ("field", "reason", "kind", "reporting_street", "record_sealed")


async def add_reviews(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Queue the items; an item queued already (a corrected record that still cannot be routed)
    keeps its age and takes the new field, reason, kind, reporting street and record: it shows what
    the bureau said last, and is in the queue of the district that reported the corrected record."""
    if rows:
        statement = insert_for(session)(ReviewItem)
        changed = {name: statement.excluded[name] for name in REQUEUED_FIELDS}
        await session.execute(statement.on_conflict_do_update(index_elements=["record_id"], set_=changed), rows)


async def load_review(session: AsyncSession, record_id: str, *, for_update: bool = False) -> ReviewItem | None:
    query = select(ReviewItem).where(col(ReviewItem.record_id) == record_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


def close_review(item: ReviewItem, event: ReviewResolved) -> None:
    item.resolution, item.resolved_code = event.resolution.value, event.code
    item.resolution_note, item.resolved_by, item.resolved_at = event.reason, event.resolved_by, event.resolved_at


async def review_queue(
    session: AsyncSession, *, limit: int, reporting_prefix: str = "", resolved: bool = False
) -> list[ReviewItem]:
    """Open (or resolved) items, oldest first, of records whose reporting street starts with `reporting_prefix`."""
    waiting = col(ReviewItem.resolved_at).is_not(None) if resolved else col(ReviewItem.resolved_at).is_(None)
    query = select(ReviewItem).where(waiting).order_by(col(ReviewItem.received_at)).limit(limit)
    if reporting_prefix:
        query = query.where(col(ReviewItem.reporting_street).startswith(reporting_prefix, autoescape=True))
    return list((await session.execute(query)).scalars())
