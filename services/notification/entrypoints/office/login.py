"""Logging in with the street's office key, and out.

The login form carries a token that its post must bring back both as a field
and as a cookie only this site can set: a form posted from another site
(login CSRF) cannot open a session under its own key.
"""

# No `from __future__ import annotations`: FastAPI must see the closure-local `Token` alias.

import hmac
import secrets
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.notification.entrypoints.office.common import LOGIN_PATH, PREFIX, OfficePages
from shared.http.cookies import BrowserCookie

LOGIN_FORM_LIFETIME_S = 3600


def login_router(office: OfficePages, *, login_csrf: BrowserCookie, lifetime_s: int) -> APIRouter:
    router = APIRouter(prefix=PREFIX, route_class=office.route_class())
    desk, session = office.desk, office.session
    Token = Annotated[str, Depends(office.session_token)]

    def login_page(error: str | None = None, status: int = 200) -> HTMLResponse:
        csrf = secrets.token_urlsafe(32)
        response = office.page("login.html", status=status, error=error, csrf=csrf)
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
            await office.form_of(request, clerk)
            await desk.log_out(token)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        session.delete(response)
        return response

    return router
