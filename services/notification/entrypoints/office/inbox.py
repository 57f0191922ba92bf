"""The street's inbox: its piles of notices, the open ones as a sheet, and the week's report submitted from it."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Token` alias.

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.notification.entrypoints.office.common import NOT_KEPT, PREFIX, OfficePages
from services.notification.service_layer.office import Clerk

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def inbox_router(office: OfficePages) -> APIRouter:
    router = APIRouter(prefix=PREFIX, route_class=office.route_class())
    desk = office.desk
    Token = Annotated[str, Depends(office.session_token)]

    @router.get("")
    async def inbox(token: Token = "", submitted: Annotated[str, Query(max_length=10)] = "") -> Response:
        if not isinstance(clerk := await office.clerk_or_login(token), Clerk):
            return clerk
        week, due = desk.week_due()
        piles = await desk.piles(clerk)
        return office.page(
            "inbox.html", clerk=clerk, piles=piles, week=week, due=due, submitted=submitted, zone=desk.zone
        )

    @router.get("/open.xlsx")
    async def open_sheet(token: Token = "") -> Response:
        if not isinstance(clerk := await office.clerk_or_login(token), Clerk):
            return clerk
        body = await desk.open_sheet(clerk)
        disposition = f'attachment; filename="open-notices-{clerk.street}.xlsx"'
        return Response(body, media_type=XLSX, headers={"Content-Disposition": disposition} | NOT_KEPT)

    @router.post("/weekly")
    async def submit_week(request: Request, token: Token = "") -> Response:
        if not isinstance(clerk := await office.clerk_or_login(token), Clerk):
            return clerk
        form = await office.form_of(request, clerk)
        week = form.get("week", "")
        answer = await desk.submit_week(clerk, week)
        if not answer.ok:
            piles, (_, due) = await desk.piles(clerk), desk.week_due()
            context = {"clerk": clerk, "piles": piles, "week": week, "due": due, "zone": desk.zone}
            return office.page("inbox.html", status=409, submitted="", week_error=answer.detail, **context)
        return RedirectResponse(f"/office?submitted={week}", status_code=303)

    return router
