"""Notification's HTTP edge: a recipient's inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.notification.adapters.inbox import Inbox

RecipientCode = Annotated[str, Path(pattern=r"^(\d{6}|\d{9})$", description="Street or district code")]


def inbox_router(inbox: Inbox) -> APIRouter:
    router = APIRouter(prefix="/v1/inbox", tags=["inbox"])

    @router.get("/{recipient_code}")
    async def list_inbox(
        recipient_code: RecipientCode, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> dict[str, object]:
        notices = await inbox.list_for(recipient_code, limit=limit)
        return {
            "recipient": recipient_code,
            "notices": [
                {
                    "notice_id": n.notice_id,
                    "record_id": n.record_id,
                    "route": n.route,
                    "reason": n.reason,
                    "person": n.person,
                    "issued_at": n.issued_at.isoformat(),
                }
                for n in notices
            ],
        }

    return router
