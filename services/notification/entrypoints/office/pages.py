"""The street office's page: server-rendered, no script, in the manner of reporting's dashboard.

Most street offices have no system to receive webhooks; a clerk logs in with
the street's office key and works the inbox here. The page lives in
notification because the inbox does: answers take the same use case as the
API's feedback route. The login makes a short-lived server-side session (the
cookie holds a random token, never the key); every form carries the session's
CSRF token. The weekly report is submitted to reporting's sign-off API,
server to server, under the clerk's own key.
"""

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.notification.adapters.tables import utc
from services.notification.service_layer.office import Clerk, Desk
from shared.events import FeedbackResult, RejectionReason
from shared.events.feedback import CORRECTABLE_FIELDS
from shared.http.cookies import BrowserCookie
from shared.http.problems import ProblemError

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOGIN_PATH = "/office/login"
TOKEN_LENGTH = 100  # at most: a longer cookie is no session's
LOGIN_FORM_LIFETIME_S = 3600
# pages and sheets show names and identity numbers: kept by no browser cache or proxy (a street office's shared PC)
NOT_KEPT = {"Cache-Control": "no-store"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NoticeId = Annotated[str, PathParam(max_length=36)]


def session_cookie(secure: bool) -> BrowserCookie:
    """The clerk's session."""
    return BrowserCookie("popflow_office", secure)


def login_cookie(secure: bool) -> BrowserCookie:
    """The login form's CSRF token."""
    return BrowserCookie("popflow_office_login", secure)


def office_router(desk: Desk, *, secure_cookie: bool, lifetime_s: int) -> APIRouter:
    router = APIRouter(prefix="/office", tags=["office"], include_in_schema=False)
    session, login_csrf = session_cookie(secure_cookie), login_cookie(secure_cookie)

    def session_token(request: Request) -> str:
        token = session.read(request)
        return token if len(token) <= TOKEN_LENGTH else ""

    Token = Annotated[str, Depends(session_token)]

    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    templates.filters["local"] = lambda moment: utc(moment).astimezone(desk.zone).strftime("%Y-%m-%d %H:%M")

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context), status_code=status, headers=NOT_KEPT)

    async def clerk_or_login(token: str) -> Clerk | Response:
        clerk = await desk.clerk(token)
        return clerk if clerk is not None else RedirectResponse(LOGIN_PATH, status_code=303)

    async def form_of(request: Request, clerk: Clerk) -> dict[str, str]:
        """The posted form, once its CSRF token is the session's."""
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", errors="replace")).items()}
        if not hmac.compare_digest(form.get("csrf", ""), clerk.csrf_token):
            raise ProblemError(403, "Forbidden", "The form is stale or not from this page; reload it and try again.")
        return form

    def login_page(error: str | None = None, status: int = 200) -> HTMLResponse:
        """The login form, with a token that its post must bring back both as a field and as a cookie only this
        site can set: a form posted from another site (login CSRF) cannot open a session under its own key."""
        csrf = secrets.token_urlsafe(32)
        response = page("login.html", status=status, error=error, csrf=csrf)
        login_csrf.set(response, csrf, max_age=LOGIN_FORM_LIFETIME_S)
        return response

    @router.get("/login")
    async def login_form() -> HTMLResponse:
        return login_page()

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        expected, given = login_csrf.read(request), (form.get("csrf") or [""])[0]
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            # posted from another site, or a form older than its cookie: no session is opened, the key not tried
            return login_page("登录表单已过期或来源不明，请重新登录。", status=403)
        token = await desk.log_in((form.get("key") or [""])[0].strip())
        if token is None:
            return login_page("这个密钥无效，或不是街道办（street）的密钥。", status=401)
        response = RedirectResponse("/office", status_code=303)
        session.set(response, token, max_age=lifetime_s)
        login_csrf.delete(response)
        return response

    @router.post("/logout")
    async def logout(request: Request, token: Token = "") -> Response:
        if (clerk := await desk.clerk(token)) is not None:
            await form_of(request, clerk)
            await desk.log_out(token)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        session.delete(response)
        return response

    @router.get("")
    async def inbox(token: Token = "", submitted: Annotated[str, Query(max_length=10)] = "") -> Response:
        if not isinstance(clerk := await clerk_or_login(token), Clerk):
            return clerk
        week, due = desk.week_due()
        piles = await desk.piles(clerk)
        return page("inbox.html", clerk=clerk, piles=piles, week=week, due=due, submitted=submitted, zone=desk.zone)

    @router.get("/notices/{notice_id}")
    async def notice(notice_id: NoticeId, token: Token = "") -> Response:
        if not isinstance(clerk := await clerk_or_login(token), Clerk):
            return clerk
        return page("notice.html", **_notice_context(clerk, await desk.notice(clerk, notice_id), desk))

    @router.post("/notices/{notice_id}/answer")
    async def answer(notice_id: NoticeId, request: Request, token: Token = "") -> Response:
        if not isinstance(clerk := await clerk_or_login(token), Clerk):
            return clerk
        form = await form_of(request, clerk)
        try:
            await desk.answer(clerk, notice_id, form)
        except ProblemError as problem:
            found = await desk.notice(clerk, notice_id)
            errors = [e["detail"] for e in problem.extra.get("errors", [])] or [problem.detail or problem.title]
            return page("notice.html", status=problem.status, **_notice_context(clerk, found, desk, errors, form))
        return RedirectResponse(f"/office/notices/{notice_id}", status_code=303)

    @router.get("/open.xlsx")
    async def open_sheet(token: Token = "") -> Response:
        if not isinstance(clerk := await clerk_or_login(token), Clerk):
            return clerk
        body = await desk.open_sheet(clerk)
        disposition = f'attachment; filename="open-notices-{clerk.street}.xlsx"'
        return Response(body, media_type=XLSX, headers={"Content-Disposition": disposition} | NOT_KEPT)

    @router.post("/weekly")
    async def submit_week(request: Request, token: Token = "") -> Response:
        if not isinstance(clerk := await clerk_or_login(token), Clerk):
            return clerk
        form = await form_of(request, clerk)
        week = form.get("week", "")
        answer = await desk.submit_week(clerk, week)
        if not answer.ok:
            piles, (_, due) = await desk.piles(clerk), desk.week_due()
            context = {"clerk": clerk, "piles": piles, "week": week, "due": due, "zone": desk.zone}
            return page("inbox.html", status=409, submitted="", week_error=answer.detail, **context)
        return RedirectResponse(f"/office?submitted={week}", status_code=303)

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
