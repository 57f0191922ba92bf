"""The dashboard's cookies over HTTPS: `__Host-` names, which browsers hold to this very host.

`__Host-popflow_session` (path /, Secure, no Domain) is kept by a browser only when this very host sent it
over HTTPS: a page of a sibling subdomain (`evil.city.gov.cn` beside `popflow.city.gov.cn`) or a plain HTTP
address can set `popflow_session` for the host, and log a bureau analyst into a session of its own choosing
(their spot checks and reviews then shown as another key's), but never the prefixed name, the only one read.
The login form's token is `__Host-` too: one planted would pass the form's double-submit check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from fastapi import Depends, FastAPI

from services.reporting.entrypoints.dashboard import pages
from services.reporting.entrypoints.http.access import caller, session_cookie
from services.reporting.service_layer.logins import Session
from shared.auth.scopes import Principal, parse_scope
from shared.http.problems import install_problem_handlers
from tests.support.cookies import SetCookie

NOW = datetime(2027, 2, 26, 4, 0, tzinfo=UTC)
BUREAU = Principal("k1", parse_scope("district:440111"))


class FakeLogins:
    """Any key opens the session `opened-<key>`; `session_of` knows the sessions it opened."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def log_in(self, key: str) -> Session | None:
        return Session(BUREAU, "csrf", NOW + timedelta(hours=1), f"opened-{key}")

    async def session_of(self, token: str) -> Session | None:
        self.asked.append(token)
        return Session(BUREAU, "csrf", NOW + timedelta(hours=1)) if token.startswith("opened-") else None


def dashboard(logins: FakeLogins, *, secure: bool) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    service = SimpleNamespace(clock=SimpleNamespace(now=lambda: NOW))
    router = pages.dashboard_router(
        service,  # type: ignore[arg-type]  # only the login routes are called
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        logins,  # type: ignore[arg-type]
        secure_cookie=secure,
        served_districts=["440111"],
    )
    app.include_router(router)
    authenticate = caller(None, logins, session_cookie(secure))  # type: ignore[arg-type]  # no bearer key is sent

    @app.get("/v1/whoami")
    async def whoami(principal: Principal = Depends(authenticate)) -> dict[str, str]:  # noqa: B008 - FastAPI's way
        return {"key_id": principal.key_id}

    return app


def _token(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


@pytest.mark.parametrize(
    ("secure", "session", "login_csrf"),
    [(True, "__Host-popflow_session", "__Host-popflow_login_csrf"), (False, "popflow_session", "popflow_login_csrf")],
    ids=["https", "development"],
)
async def test_the_dashboards_cookies_are_named_and_set_for_https(secure: bool, session: str, login_csrf: str) -> None:
    site = "https://popflow.test" if secure else "http://popflow.test"
    app = dashboard(FakeLogins(), secure=secure)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=site) as browser:
        form = await browser.get("/dashboard/login")
        [set_form] = [SetCookie.parse(header) for header in form.headers.get_list("set-cookie")]
        login = await browser.post("/dashboard/login", data={"key": "pf_bureau", "csrf": _token(form.text)})
        assert login.status_code == 303
        set_session, spent = [SetCookie.parse(header) for header in login.headers.get_list("set-cookie")]
        assert (await browser.get("/v1/whoami")).json() == {"key_id": "k1"}  # the session reads the API
    assert (set_form.name, set_form.value) == (login_csrf, _token(form.text))
    assert (set_session.name, set_session.value) == (session, "opened-pf_bureau")
    assert (spent.name, spent.value, spent.max_age) == (login_csrf, "", "0")  # the form's token, removed
    for cookie in (set_form, set_session, spent):
        assert cookie.host_only is secure, cookie  # over HTTPS: Secure, path /, no Domain, __Host-
        assert (cookie.secure, cookie.path, cookie.domain) == (secure, "/", ""), cookie
        assert cookie.httponly, cookie
        assert cookie.samesite == "strict", cookie


async def test_over_https_a_session_cookie_under_the_bare_name_opens_nothing() -> None:
    logins = FakeLogins()
    planted = {"popflow_session": "opened-pf_attacker"}
    app = dashboard(logins, secure=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://popflow.test", cookies=planted) as browser:
        api = await browser.get("/v1/whoami")
        page = await browser.get("/dashboard")
    assert api.status_code == 401
    assert page.status_code == 303
    assert page.headers["location"].startswith("/dashboard/login")
    assert logins.asked == [""]  # the API did not look it up; the page looked up no token
