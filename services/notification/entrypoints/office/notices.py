"""One notice of the street's inbox, and the clerk's answer to it (the same use case as the API's feedback)."""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Token` alias.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from services.notification.entrypoints.office.common import PREFIX, OfficePages
from services.notification.entrypoints.office.messages import problem_messages
from services.notification.service_layer.office import Clerk, Desk
from shared.events import FeedbackResult, RejectionReason
from shared.events.feedback import CORRECTABLE_FIELDS
from shared.http.problems import ProblemError

NoticeId = Annotated[str, PathParam(max_length=36)]


def notice_router(office: OfficePages) -> APIRouter:
    router = APIRouter(prefix=PREFIX, route_class=office.route_class())
    desk = office.desk
    Token = Annotated[str, Depends(office.session_token)]

    @router.get("/notices/{notice_id}")
    async def notice(notice_id: NoticeId, token: Token = "") -> Response:
        if not isinstance(clerk := await office.clerk_or_login(token), Clerk):
            return clerk
        return office.page("notice.html", **_notice_context(clerk, await desk.notice(clerk, notice_id), desk))

    @router.post("/notices/{notice_id}/answer")
    async def answer(notice_id: NoticeId, request: Request, token: Token = "") -> Response:
        if not isinstance(clerk := await office.clerk_or_login(token), Clerk):
            return clerk
        form = await office.form_of(request, clerk)
        try:
            await desk.answer(clerk, notice_id, form)
        except ProblemError as problem:
            found = await desk.notice(clerk, notice_id)
            errors = problem_messages(problem)
            return office.page(
                "notice.html", status=problem.status, **_notice_context(clerk, found, desk, errors, form)
            )
        return RedirectResponse(f"/office/notices/{notice_id}", status_code=303)

    return router


def _notice_context(
    clerk: Clerk, notice: Any, desk: Desk, errors: list[str] | None = None, form: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "clerk": clerk,
        "notice": notice,
        "zone": desk.zone,
        "errors": errors or [],
        "form": form or {},
        "results": list(FeedbackResult),
        "reasons": list(RejectionReason),
        "correctable": sorted(CORRECTABLE_FIELDS),
    }
