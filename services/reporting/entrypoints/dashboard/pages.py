"""Dashboard routes: a login form that opens a server-side session, and the district page.

A bureau (or admin) key opens the page, sent as a bearer header or exchanged once at
the login form for a session (service_layer/logins.py): the browser keeps
only the session id, in an HttpOnly, SameSite=Strict cookie (Secure outside
development). Every form carries a CSRF token: the login form a
double-submit token (a cookie and a hidden field that must match), the
logout form the session's own token.
"""

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.reporting.adapters.exchange_client import ExchangeClient
from services.reporting.domain.figures import LABELS
from services.reporting.domain.key_area_lists import LABELS as LIST_LABELS
from services.reporting.domain.key_area_lists import ListState, list_due_on, overdue
from services.reporting.domain.sheets import SIGNOFF_LABELS
from services.reporting.entrypoints.dashboard.chart import trend_svg
from services.reporting.entrypoints.dashboard.review import (
    LOGIN_PATH,
    Visitor,
    add_review_route,
    form_fields,
    refusal_mark,
    to_login,
)
from services.reporting.entrypoints.http.access import bearer_key, session_cookie
from services.reporting.service_layer.campaigns import CampaignPlan
from services.reporting.service_layer.errors import Invalid
from services.reporting.service_layer.logins import Logins, Session, tokens_match
from services.reporting.service_layer.reports import ReportService
from services.reporting.service_layer.spotchecks import SpotChecks
from shared.auth.scopes import Action, Principal
from shared.auth.store import KeyStore
from shared.clock import Clock
from shared.http.cookies import BrowserCookie
from shared.http.problems import ProblemError
from shared.signoff_refusals import Refusal, refusal_in_chinese

REFUSAL_CODES = frozenset(refusal.value for refusal in Refusal)

TEMPLATES = Path(__file__).resolve().parent / "templates"
TREND_WEEKS = 8
LOGIN_FORM_LIFETIME_S = 3600


def page_headers(nonce: str) -> dict[str, str]:
    """A dashboard page runs no script and takes its one style block by nonce: text that slipped through
    unescaped could neither run nor restyle the page. No cache or proxy keeps it (a bureau's shared PC)."""
    policy = f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; form-action 'self'; base-uri 'none'"
    return {"Content-Security-Policy": policy + "; frame-ancestors 'none'", "Cache-Control": "no-store"}


def dashboard_router(
    service: ReportService,
    keys: KeyStore,
    spotchecks: SpotChecks,
    plan: CampaignPlan,
    logins: Logins,
    *,
    secure_cookie: bool,
    served_districts: Sequence[str],
    exchange: ExchangeClient | None = None,
) -> APIRouter:
    """The login form with the session it opens and closes, the district page and its review form, on one router."""
    router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    cookie = session_cookie(secure_cookie)
    login_csrf = BrowserCookie("popflow_login_csrf", secure_cookie)
    _add_session_routes(router, templates, logins, service.clock, cookie=cookie, login_csrf=login_csrf)
    visitor = _visitor_of(keys, logins, cookie)
    add_review_route(router, visitor, service)
    _add_district_page(
        router,
        templates,
        visitor,
        service,
        spotchecks,
        plan,
        served_districts=served_districts,
        exchange=exchange,
    )
    return router


def _add_session_routes(
    router: APIRouter,
    templates: Environment,
    logins: Logins,
    clock: Clock,
    *,
    cookie: BrowserCookie,
    login_csrf: BrowserCookie,
) -> None:
    def login_page(next: str, error: str | None = None, status: int = 200) -> HTMLResponse:
        csrf = secrets.token_urlsafe(32)
        response = _page(templates, "login.html", status=status, error=error, next=next, csrf=csrf)
        login_csrf.set(response, csrf, max_age=LOGIN_FORM_LIFETIME_S)
        return response

    @router.get("/login")
    async def login_form(next: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
        return login_page(next)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = form_fields(await request.body())
        wanted = form.get("next", "")[:200]
        if not tokens_match(login_csrf.read(request), form.get("csrf", "")):
            # a form posted from another site, or an old one: no session is opened
            return login_page(wanted, "登录表单已过期或来源不明，请重新登录。", status=403)
        session = await logins.log_in(form.get("key", "").strip())
        if session is None or not session.principal.may(Action.SUPERVISE):
            return login_page(wanted, "这个密钥无效，或不是区局（district）密钥。", status=401)
        response = RedirectResponse(_next_page(wanted, session.principal), status_code=303)
        lifetime = int((session.expires_at - clock.now()).total_seconds())
        cookie.set(response, session.token, max_age=max(lifetime, 1))
        login_csrf.delete(response)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = form_fields(await request.body())
        if not await logins.log_out(cookie.read(request), form.get("csrf", "")):
            raise ProblemError(403, "Forbidden", "This logout form is not from your dashboard session.")
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        cookie.delete(response)
        return response


def _add_district_page(
    router: APIRouter,
    templates: Environment,
    visitor: Visitor,
    service: ReportService,
    spotchecks: SpotChecks,
    plan: CampaignPlan,
    *,
    served_districts: Sequence[str],
    exchange: ExchangeClient | None,
) -> None:
    @router.get("")
    async def dashboard(
        request: Request,
        district: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
        week: Annotated[str | None, Query(pattern=r"^[0-9]{4}-W[0-9]{2}$")] = None,
        street: Annotated[str | None, Query(pattern=r"^[0-9]{9}$")] = None,
        refused: Annotated[str | None, Query(max_length=64)] = None,
        said: Annotated[str, Query(max_length=64)] = "",
    ) -> Response:
        """`refused` (with the `street`, marked by `said`): why the review just posted from this page was refused
        (review.py); shown only to the session that posted it."""
        principal, session = await visitor(request)
        if principal is None:
            return _to_login(request)
        district = district or principal.scope.code or (served_districts[0] if len(served_districts) == 1 else None)
        if not district:  # an admin key, and several districts served here: which one
            names = [(code, service.name(code) or code) for code in served_districts]
            return _page(templates, "districts.html", districts=names)
        _require_district_key(principal, district)
        week = week or service.calendar.week_of(service.clock.now())
        try:
            context = await _context(service, spotchecks, plan, district, week)
        except Invalid as error:
            raise ProblemError(422, "Unprocessable Entity", error.detail) from error
        exchanged = await _exchange_context(exchange, principal, served_districts)
        csrf = session.csrf_token if session else ""
        # a link made elsewhere (or of a code this version does not know): its words are not shown
        known = Refusal(refused) if refused in REFUSAL_CODES else None
        if known is not None and not _posted_here(session, said, street=street, week=week, refused=known):
            known = None
        refusal = _refusal(service, street, known)
        return _page(templates, "dashboard.html", csrf=csrf, refusal=refusal, **exchanged, **context)


def _posted_here(session: Session | None, said: str, *, street: str | None, week: str, refused: Refusal) -> bool:
    """Whether the refusal in the address is that of a review this session posted (review.refusal_mark)."""
    if session is None or street is None:
        return False
    return tokens_match(refusal_mark(session.csrf_token, street=street, week=week, refused=refused.value), said)


def _refusal(service: ReportService, street: str | None, refused: Refusal | None) -> dict[str, str] | None:
    if street is None or refused is None:
        return None
    return {"reason": refused.value, "name": service.name(street) or street, "words": refusal_in_chinese(refused)}


def _page(templates: Environment, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    body = templates.get_template(name).render(csp_nonce=nonce, **context)
    return HTMLResponse(body, status_code=status, headers=page_headers(nonce))


def _visitor_of(keys: KeyStore, logins: Logins, cookie: BrowserCookie) -> Visitor:
    """Who opens the page: a bearer key (scripts), else the session behind the cookie (browsers)."""

    async def visitor(request: Request) -> tuple[Principal | None, Session | None]:
        key = bearer_key(request)
        if key is not None:
            return await keys.authenticate(key), None
        session = await logins.session_of(cookie.read(request))
        return (session.principal, session) if session else (None, None)

    return visitor


def _to_login(request: Request) -> RedirectResponse:
    """To the login form, which comes back to the page asked for."""
    return to_login(request.url.path + (f"?{request.url.query}" if request.url.query else ""))


async def _exchange_context(
    exchange: ExchangeClient | None, principal: Principal, served_districts: Sequence[str]
) -> dict[str, Any]:
    """The deployment's exchange per partner (notification's overview), when configured; it counts every
    served district's traffic together, so only a key covering all of them sees it."""
    shown = exchange is not None and sees_whole_deployment(principal, served_districts)
    partners = await exchange.partners() if shown and exchange is not None else None
    return {"exchange_shown": shown, "exchange_withheld": exchange is not None and not shown, "partners": partners}


def _next_page(wanted: str, principal: Principal) -> str:
    """Where to go after logging in: a dashboard page asked for, else the key's own district."""
    if wanted.startswith("/dashboard") and not wanted.startswith("/dashboard/login"):
        return wanted  # a path on this site only: never an open redirect
    return "/dashboard" + (f"?{urlencode({'district': principal.scope.code})}" if principal.scope.code else "")


def sees_whole_deployment(principal: Principal, served_districts: Sequence[str]) -> bool:
    """Whether the key covers every district the deployment serves: the exchange overview is the
    deployment's, one count per partner for all of them, and cannot be cut by district."""
    return all(principal.scope.covers(district) for district in served_districts)


def _require_district_key(principal: Principal, district: str) -> None:
    if not principal.may(Action.SUPERVISE, district):
        raise ProblemError(
            403, "Forbidden", f"The dashboard needs the key of bureau {district}; yours is {principal.scope}."
        )


async def _context(
    service: ReportService, spotchecks: SpotChecks, plan: CampaignPlan, district: str, week: str
) -> dict[str, Any]:
    report = await service.weekly(district, week)
    judged = await service.quality(district, week)
    quality = {q["street"]: q for q in judged["streets"]}
    weeks = service.calendar.weeks_up_to(week, TREND_WEEKS)  # fewer in the calendar's first weeks
    trend = [(name, (await service.weekly(district, name))["figures"]["new_inflow"]) for name in weeks]
    found = await spotchecks.latest(district)
    ranking = await spotchecks.ranking(found) if found else []
    zone = service.calendar.zone
    return {
        "report": report,
        "quality": quality,
        "answers_final": judged["answers_final"],
        "labels": LABELS,
        "signoff_labels": SIGNOFF_LABELS,
        "chart": trend_svg(trend, title=f"近{TREND_WEEKS}周新流入个案"),
        "ranking": ranking,
        "spotcheck": found[0] if found else None,
        "threshold": spotchecks.threshold,
        "starts": service.calendar.bounds(week).starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "ends": service.calendar.bounds(week).ends_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "previous_week": weeks[-2] if len(weeks) >= 2 else None,  # none before the calendar's first
        "next_week": _next_week(service, week),
        "lists": await _key_area_lists(plan, report),
        "list_labels": {state.value: label for state, label in LIST_LABELS.items()},
    }


def _next_week(service: ReportService, week: str) -> str | None:
    """The week after `week`, once it has begun (the current week has none: its next holds nothing yet).

    It begins where `week` ends: its own bounds are not looked up, since past the calendar's last week (9998-W53)
    there are none, and the page of that week would fail."""
    ends_at = service.calendar.bounds(week).ends_at
    return service.calendar.week_of(ends_at) if ends_at <= service.clock.now() else None


async def _key_area_lists(plan: CampaignPlan, report: dict[str, Any]) -> dict[str, Any] | None:
    """The running campaign's key-area lists: the due date and the streets late or still missing."""
    if report["campaign"] is None:
        return None
    campaign = await plan.get(report["campaign"]["campaign_id"])
    statuses = await plan.list_statuses(campaign, plan.streets_of(campaign))
    names = {s.street: plan.name_of(s.street) for s in statuses}
    return {
        "due_on": list_due_on(campaign.starts_on).isoformat(),
        "overdue": [{**s.shown(), "name": names[s.street]} for s in overdue(statuses)],
        "on_time": sum(s.state is ListState.ON_TIME for s in statuses),
        "streets": len(statuses),
    }
