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
from services.notification.entrypoints.office.pages import COOKIE, LOGIN_CSRF_COOKIE
from shared.http.problems import install_problem_handlers

FORM = {"content-type": "application/x-www-form-urlencoded"}


class FakeDesk:
    """Just what the login routes use: any key opens a session."""

    zone = ZoneInfo("Asia/Shanghai")

    def __init__(self) -> None:
        self.logins: list[str] = []

    async def log_in(self, key: str) -> str | None:
        self.logins.append(key)
        return "session-token-of-" + key


@pytest.fixture
def office() -> tuple[httpx.AsyncClient, FakeDesk]:
    desk = FakeDesk()
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(office_router(desk, secure_cookie=False, lifetime_s=1800))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://popflow.test"), desk


def _token(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


async def test_a_login_posted_from_another_site_opens_no_session_and_tries_no_key(
    office: tuple[httpx.AsyncClient, FakeDesk],
) -> None:
    browser, desk = office
    async with browser:
        # an auto-submitting form on https://evil.example: no cookie of ours, a token of its own or none
        for body in ("key=pf_attackerskey_secret", "key=pf_attackerskey_secret&csrf=made-up"):
            answer = await browser.post("/office/login", content=body, headers=FORM | {"origin": "https://evil.ex"})
            assert answer.status_code == 403
            assert COOKIE not in answer.cookies
            assert "登录表单已过期或来源不明" in answer.text
    assert desk.logins == []


async def test_the_form_this_site_served_logs_in_once(office: tuple[httpx.AsyncClient, FakeDesk]) -> None:
    browser, desk = office
    async with browser:
        form = await browser.get("/office/login")
        assert form.status_code == 200
        token = _token(form.text)
        assert form.cookies[LOGIN_CSRF_COOKIE] == token
        assert "httponly" in form.headers["set-cookie"].lower()
        assert "samesite=strict" in form.headers["set-cookie"].lower()

        answer = await browser.post("/office/login", data={"key": "pf_xinshi", "csrf": token})
        assert answer.status_code == 303
        assert answer.cookies[COOKIE] == "session-token-of-pf_xinshi"
        assert LOGIN_CSRF_COOKIE not in browser.cookies  # the form's token is spent with the login
    assert desk.logins == ["pf_xinshi"]
