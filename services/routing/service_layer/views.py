"""What routing's HTTP edge shows: decisions, cases without the person's details, the review queue.

Each view answers only what the caller's scope covers (domain/access.py);
a case outside it reads as None, exactly like a case that does not exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.routing.adapters import case_store, decision_store, notice_store, review_store
from services.routing.domain.access import concerned, may_read, review_prefix
from services.routing.service_layer.context import RoutingContext
from shared.auth import Principal


async def decision(context: RoutingContext, principal: Principal, record_id: str) -> dict[str, Any] | None:
    """The record's routing decision; None while it has none or the caller may not see it."""
    async with context.reads() as session:
        row = await decision_store.load_decision(session, record_id)
        notices = await notice_store.notices_of(session, record_id)
    if row is None:
        return None
    codes = concerned(
        reporting_street=row.reporting_street,
        residence_street=row.residence_street,
        recipients=(n.recipient_code for n in notices),
    )
    return row.model_dump(mode="json") if may_read(principal, codes) else None


async def case(context: RoutingContext, principal: Principal, record_id: str) -> dict[str, Any] | None:
    """A case's status, version and notices, without the person's details; None while there is no case
    or the caller may not see it."""
    async with context.reads() as session:
        found = await case_store.load_case(session, record_id, context.keyring)
        notices = await notice_store.notices_of(session, record_id)
    if found is None:
        return None
    codes = concerned(
        reporting_street=found.reporting_street,
        residence_street=found.residence_street,
        recipients=(n.recipient_code for n in notices),
    )
    if not may_read(principal, codes):
        return None
    return {
        "record_id": record_id,
        "status": found.status.value,
        "version": found.version,
        "route": found.route.value,
        "residence_street": found.residence_street,
        "notices": [n.model_dump(mode="json") for n in notices],
    }


async def review_queue(
    context: RoutingContext, principal: Principal, *, limit: int, resolved: bool = False
) -> list[dict[str, Any]]:
    """Records reported in the caller's district whose codes are unknown or retired, oldest first,
    each with its age; the record's own fields stay in the store (they are personal data)."""
    now = context.clock.now()
    async with context.reads() as session:
        items = await review_store.review_queue(
            session, limit=limit, reporting_prefix=review_prefix(principal), resolved=resolved
        )
    return [
        _with_age(item.model_dump(mode="json", exclude={"record_sealed"}), now - item.received_at) for item in items
    ]


def _with_age(item: dict[str, Any], age: timedelta) -> dict[str, Any]:
    return item | {"age_days": age.days, "age_hours": int(age.total_seconds() // 3600)}
