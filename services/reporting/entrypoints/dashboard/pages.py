"""Dashboard routes: a login form that sets an HttpOnly cookie, and the district page.

A district key opens the page, sent as a bearer header or kept in the
cookie by the login form, so a plain browser can use it.
"""

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.reporting.domain.figures import LABELS
from services.reporting.domain.sheets import SIGNOFF_LABELS
from services.reporting.entrypoints.dashboard.chart import trend_svg
from services.reporting.entrypoints.http.access import COOKIE, key_of
from services.reporting.service_layer.errors import Invalid
from services.reporting.service_layer.reports import ReportService
from services.reporting.service_layer.spotchecks import SpotChecks
from shared.auth.scopes import Principal, ScopeKind
from shared.auth.store import KeyStore
from shared.http.problems import ProblemError

TEMPLATES = Path(__file__).resolve().parent / "templates"
TREND_WEEKS = 8


def dashboard_router(
    service: ReportService,
    keys: KeyStore,
    spotchecks: SpotChecks,
    *,
    secure_cookie: bool,
) -> APIRouter:
    router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context), status_code=status)

    @router.get("/login")
    async def login_form(next: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
        return page("login.html", error=None, next=next)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        key = (form.get("key") or [""])[0].strip()
        principal = await keys.authenticate(key) if key else None
        if principal is None or not principal.is_bureau:
            error = "这个密钥无效，或不是区局（district）密钥。"
            return page("login.html", status=401, error=error, next=(form.get("next") or [""])[0])
        target = _next_page(form, principal)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, key, httponly=True, samesite="lax", secure=secure_cookie, path="/")
        return response

    @router.post("/logout")
    async def logout() -> Response:
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("")
    async def dashboard(
        request: Request,
        district: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
        week: Annotated[str | None, Query(pattern=r"^[0-9]{4}-W[0-9]{2}$")] = None,
    ) -> Response:
        key = key_of(request)
        principal = await keys.authenticate(key) if key else None
        if principal is None:
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/dashboard/login?{urlencode({'next': wanted})}", status_code=303)
        district = district or principal.scope.code
        if not district:
            raise ProblemError(422, "Unprocessable Entity", "Give the district, e.g. ?district=440111.")
        _require_district_key(principal, district)
        week = week or service.calendar.week_of(service.clock.now())
        try:
            context = await _context(service, spotchecks, district, week)
        except Invalid as error:
            raise ProblemError(422, "Unprocessable Entity", error.detail) from error
        return page("dashboard.html", **context)

    return router


def _next_page(form: dict[str, list[str]], principal: Principal) -> str:
    """Where to go after logging in: a dashboard page asked for, else the key's own district."""
    wanted = (form.get("next") or [""])[0]
    if wanted.startswith("/dashboard") and not wanted.startswith("/dashboard/login"):
        return wanted  # a path on this site only: never an open redirect
    return "/dashboard" + (f"?{urlencode({'district': principal.scope.code})}" if principal.scope.code else "")


def _require_district_key(principal: Principal, district: str) -> None:
    if principal.scope.kind is ScopeKind.STREET or not principal.can_access(district):
        raise ProblemError(
            403, "Forbidden", f"The dashboard needs the key of bureau {district}; yours is {principal.scope}."
        )


async def _context(service: ReportService, spotchecks: SpotChecks, district: str, week: str) -> dict[str, Any]:
    report = await service.weekly(district, week)
    quality = {q["street"]: q for q in (await service.quality(district, week))["streets"]}
    trend = [
        (name, (await service.weekly(district, name))["figures"]["new_inflow"])
        for name in service.calendar.weeks_up_to(week, TREND_WEEKS)
    ]
    found = await spotchecks.latest(district)
    ranking = spotchecks.ranking(found[1]) if found else []
    zone = service.calendar.zone
    return {
        "report": report,
        "quality": quality,
        "labels": LABELS,
        "signoff_labels": SIGNOFF_LABELS,
        "chart": trend_svg(trend, title=f"近{TREND_WEEKS}周新流入个案"),
        "ranking": ranking,
        "spotcheck": found[0] if found else None,
        "threshold": spotchecks.threshold,
        "starts": service.calendar.bounds(week).starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "ends": service.calendar.bounds(week).ends_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "previous_week": service.calendar.weeks_up_to(week, 2)[0],
    }
