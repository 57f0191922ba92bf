"""Push follow-up: a notice's attempts, a new round of pushes, the bureau's failed list."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Caller` alias.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from services.notification.adapters.clock import Clock
from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.inbox import Inbox
from services.notification.adapters.tables import utc
from services.notification.domain.access import may_list_failed_deliveries, recipient_prefix
from services.notification.entrypoints.http.common import NoticeId, caller, visible_notice
from shared.auth import Principal
from shared.auth.dependencies import Authenticate


def deliveries_router(
    *, inbox: Inbox, deliveries: DeliveryStore, authenticate: Authenticate, clock: Clock, wake: Callable[[], None]
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["deliveries"])
    Caller = Annotated[Principal, caller(authenticate)]

    @router.get("/notices/{notice_id}/deliveries")
    async def delivery_history(notice_id: NoticeId, principal: Caller) -> dict[str, Any]:
        await visible_notice(inbox, principal, notice_id)
        delivery, attempts = await deliveries.history(notice_id)
        return {
            "notice_id": notice_id,
            "state": delivery.state if delivery else "none",
            "next_attempt_at": _iso(delivery.next_attempt_at) if delivery and delivery.state == "pending" else None,
            "attempts": [
                {
                    "number": a.number,
                    "attempted_at": _iso(a.attempted_at),
                    "status_code": a.status_code,
                    "latency_ms": a.latency_ms,
                    "error": a.error,
                }
                for a in attempts
            ],
        }

    @router.post("/notices/{notice_id}/redeliver", status_code=202)
    async def redeliver(notice_id: NoticeId, principal: Caller) -> JSONResponse:
        notice = await visible_notice(inbox, principal, notice_id)
        if not await deliveries.redeliver(notice, now=clock.now()):
            raise HTTPException(
                409, "The recipient has no webhook; register one with PUT /v1/recipients/{code}/webhook."
            )
        wake()
        return JSONResponse({"notice_id": notice_id, "state": "pending"}, status_code=202)

    @router.get("/deliveries/failed")
    async def failed_deliveries(principal: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        if not may_list_failed_deliveries(principal):
            raise HTTPException(403, "The failed-delivery list is for district and admin keys.")
        rows = await deliveries.failed(prefix=recipient_prefix(principal), limit=limit)
        return {
            "deliveries": [
                {
                    "notice_id": d.notice_id,
                    "recipient_code": d.recipient_code,
                    "record_id": n.record_id,
                    "kind": n.kind,
                    "attempts": d.total_attempts,
                    "last_error": d.last_error,
                    "failed_at": _iso(d.updated_at),
                    "issued_at": _iso(n.issued_at),
                }
                for d, n in rows
            ]
        }

    return router


def _iso(value: Any) -> str | None:
    return utc(value).isoformat() if value else None
