"""The street office page's login form: only a form this site served opens a session (no login CSRF).

A page on another site could auto-submit its own office key to /office/login, and the clerk's browser came
back logged in to the attacker's street: answers, corrections and the weekly report then went to that street.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from services.notification.entrypoints.office import office_router
from services.notification.entrypoints.office.pages import login_cookie, session_cookie
from shared.http.problems import install_problem_handlers
from tests.support.cookies import SetCookie

FORM = {"content-type": "application/x-www-form-urlencoded"}


class FakeDesk:
    """Just what the login routes use: any key opens a session, and the session opens the inbox."""

    zone = ZoneInfo("Asia/Shanghai")

    def __init__(self) -> None:
        self.logins: list[str] = []
        self.asked: list[str] = []

    async def log_in(self, key: str) -> str | None:
        self.logins.append(key)
        return "session-token-of-" + key

    async def clerk(self, token: str) -> None:
        self.asked.append(token)  # who is this: never anyone, so the inbox sends the browser to the login form


@pytest.fixture(params=[False, True], ids=["development", "https"])
def office(request: pytest.FixtureRequest) -> tuple[httpx.AsyncClient, FakeDesk]:
    secure: bool = request.param
    desk = FakeDesk()
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(office_router(desk, secure_cookie=secure, lifetime_s=1800))  # type: ignore[arg-type]
    site = "https://popflow.test" if secure else "http://popflow.test"  # a browser sends Secure cookies over https only
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=site)
    return client, desk


def names(browser: httpx.AsyncClient) -> tuple[str, str]:
    """The session's cookie and the login form's, as this site names them."""
    secure = browser.base_url.scheme == "https"
    return session_cookie(secure).name, login_cookie(secure).name


def _token(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


async def test_a_login_posted_from_another_site_opens_no_session_and_tries_no_key(
    office: tuple[httpx.AsyncClient, FakeDesk],
) -> None:
    browser, desk = office
    session, _ = names(browser)
    async with browser:
        # an auto-submitting form on https://evil.example: no cookie of ours, a token of its own or none
        for body in ("key=pf_attackerskey_secret", "key=pf_attackerskey_secret&csrf=made-up"):
            answer = await browser.post("/office/login", content=body, headers=FORM | {"origin": "https://evil.ex"})
            assert answer.status_code == 403
            assert session not in answer.cookies
            assert "登录表单已过期或来源不明" in answer.text
    assert desk.logins == []


async def test_the_form_this_site_served_logs_in_once(office: tuple[httpx.AsyncClient, FakeDesk]) -> None:
    browser, desk = office
    session, login_csrf = names(browser)
    async with browser:
        form = await browser.get("/office/login")
        assert form.status_code == 200
        token = _token(form.text)
        assert form.cookies[login_csrf] == token
        assert "httponly" in form.headers["set-cookie"].lower()
        assert "samesite=strict" in form.headers["set-cookie"].lower()

        answer = await browser.post("/office/login", data={"key": "pf_xinshi", "csrf": token})
        assert answer.status_code == 303
        assert answer.cookies[session] == "session-token-of-pf_xinshi"
        assert login_csrf not in browser.cookies  # the form's token is spent with the login
    assert desk.logins == ["pf_xinshi"]


async def test_over_https_every_cookie_is_the_hosts_alone() -> None:
    """`__Host-`: a browser keeps it only from this very host over HTTPS, with path / and no Domain, so no
    sibling subdomain can plant one. (`__Secure-` would allow a Domain; a narrower path, no `__Host-`.)"""
    assert (session_cookie(True).name, login_cookie(True).name) == (
        "__Host-popflow_office",
        "__Host-popflow_office_login",
    )
    assert (session_cookie(False).name, login_cookie(False).name) == ("popflow_office", "popflow_office_login")
    desk = FakeDesk()
    app = FastAPI()
    app.include_router(office_router(desk, secure_cookie=True, lifetime_s=1800))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://popflow.test") as browser:
        form = await browser.get("/office/login")
        [set_form] = [SetCookie.parse(header) for header in form.headers.get_list("set-cookie")]
        login = await browser.post("/office/login", data={"key": "pf_xinshi", "csrf": _token(form.text)})
        set_session, spent = [SetCookie.parse(header) for header in login.headers.get_list("set-cookie")]
    assert (set_form.name, set_form.value) == ("__Host-popflow_office_login", _token(form.text))
    assert (set_session.name, set_session.value) == ("__Host-popflow_office", "session-token-of-pf_xinshi")
    assert (spent.name, spent.value, spent.max_age) == ("__Host-popflow_office_login", "", "0")  # removed
    for cookie in (set_form, set_session, spent):
        assert cookie.host_only, cookie
        assert cookie.httponly, cookie
        assert cookie.samesite == "strict", cookie


async def test_over_https_a_cookie_under_the_bare_name_opens_nothing() -> None:
    """A page of a sibling subdomain or a plain HTTP address can set `popflow_office` for this host, never
    `__Host-popflow_office`: the office page reads the prefixed name only."""
    desk = FakeDesk()
    app = FastAPI()
    app.include_router(office_router(desk, secure_cookie=True, lifetime_s=1800))  # type: ignore[arg-type]
    site = "https://popflow.test"
    planted = {"popflow_office": "session-token-of-pf_attacker"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=site, cookies=planted) as browser:
        answer = await browser.get("/office")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/office/login"
    assert desk.asked == [""]
