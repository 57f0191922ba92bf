"""Push follow-up: a notice's attempts, a new round of pushes, the bureau's failed list."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.notification.adapters.tables import Delivery, DeliveryAttempt, InboxNotice
from services.notification.entrypoints.http.common import NoticeId, caller, iso
from services.notification.service_layer.push_follow_up import PushFollowUp
from shared.auth import Principal
from shared.auth.dependencies import Authenticate


def deliveries_router(*, follow_up: PushFollowUp, authenticate: Authenticate) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["deliveries"])
    Caller = Annotated[Principal, caller(authenticate)]

    @router.get("/notices/{notice_id}/deliveries")
    async def delivery_history(notice_id: NoticeId, principal: Caller) -> dict[str, Any]:
        delivery, attempts = await follow_up.history(principal, notice_id)
        return _history_view(notice_id, delivery, attempts)

    @router.post("/notices/{notice_id}/redeliver", status_code=202)
    async def redeliver(notice_id: NoticeId, principal: Caller) -> dict[str, Any]:
        await follow_up.redeliver(principal, notice_id)
        return {"notice_id": notice_id, "state": "pending"}

    @router.get("/deliveries/failed")
    async def failed_deliveries(principal: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        return {"deliveries": [_failed_view(d, n) for d, n in await follow_up.failed(principal, limit=limit)]}

    return router


def _history_view(notice_id: str, delivery: Delivery | None, attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    pending = delivery is not None and delivery.state == "pending"
    return {
        "notice_id": notice_id,
        "state": delivery.state if delivery else "none",
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery and pending else None,
        "attempts": [
            {
                "number": a.number,
                "attempted_at": iso(a.attempted_at),
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "error": a.error,
            }
            for a in attempts
        ],
    }


def _failed_view(delivery: Delivery, notice: InboxNotice) -> dict[str, Any]:
    return {
        "notice_id": delivery.notice_id,
        "recipient_code": delivery.recipient_code,
        "record_id": notice.record_id,
        "kind": notice.kind,
        "attempts": delivery.total_attempts,
        "last_error": delivery.last_error,
        "failed_at": iso(delivery.updated_at),
        "issued_at": iso(notice.issued_at),
    }
