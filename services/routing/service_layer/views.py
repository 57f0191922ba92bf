"""What routing's HTTP edge shows: decisions, cases without the person's details, the review queue."""

from __future__ import annotations

from typing import Any

from services.routing.adapters import store
from services.routing.service_layer.context import RoutingContext


async def decision(context: RoutingContext, record_id: str) -> dict[str, Any] | None:
    """The record's routing decision; None while it has none."""
    async with context.sessions() as session:
        row = await store.load_decision(session, record_id)
    return None if row is None else row.model_dump(mode="json")


async def case(context: RoutingContext, record_id: str) -> dict[str, Any] | None:
    """A case's status, version and notices, without the person's details; None while there is no case."""
    async with context.sessions() as session:
        found = await store.load_case(session, record_id, context.keyring)
        notices = await store.notices_of(session, record_id)
    if found is None:
        return None
    return {
        "record_id": record_id,
        "status": found.status.value,
        "version": found.version,
        "route": found.route.value,
        "residence_street": found.residence_street,
        "notices": [n.model_dump(mode="json") for n in notices],
    }


async def review_queue(context: RoutingContext, *, limit: int) -> list[dict[str, Any]]:
    """Records whose codes are unknown or retired, waiting for the bureau, oldest first."""
    async with context.sessions() as session:
        items = await store.review_queue(session, limit=limit)
    return [item.model_dump(mode="json") for item in items]
