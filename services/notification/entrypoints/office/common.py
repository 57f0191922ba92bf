"""What every group of office routes asks of a visit: who the clerk is, whether a posted form is theirs, a page."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.notification.adapters.tables import utc
from services.notification.service_layer.office import Clerk, Desk
from shared.http.cookies import BrowserCookie
from shared.http.problems import ProblemError

PREFIX = "/office"
TEMPLATES = Path(__file__).resolve().parent / "templates"
LOGIN_PATH = "/office/login"
TOKEN_LENGTH = 100  # at most: a longer cookie is no session's
# pages and sheets show names and identity numbers: kept by no browser cache or proxy (a street office's shared PC)
NOT_KEPT = {"Cache-Control": "no-store"}


class OfficePages:
    """The desk behind the pages, their templates and the clerk's session cookie, shared by every route group."""

    def __init__(self, desk: Desk, session: BrowserCookie) -> None:
        self.desk = desk
        self.session = session
        self._templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
        self._templates.filters["local"] = lambda moment: utc(moment).astimezone(desk.zone).strftime("%Y-%m-%d %H:%M")

    def session_token(self, request: Request) -> str:
        """The session cookie's token, as a route dependency; "" for none, or one too long to be a session's."""
        token = self.session.read(request)
        return token if len(token) <= TOKEN_LENGTH else ""

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self._templates.get_template(name).render(**context), status_code=status, headers=NOT_KEPT)

    async def clerk_or_login(self, token: str) -> Clerk | Response:
        clerk = await self.desk.clerk(token)
        return clerk if clerk is not None else RedirectResponse(LOGIN_PATH, status_code=303)

    async def form_of(self, request: Request, clerk: Clerk) -> dict[str, str]:
        """The posted form, once its CSRF token is the session's."""
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", errors="replace")).items()}
        if not hmac.compare_digest(form.get("csrf", ""), clerk.csrf_token):
            raise ProblemError(403, "Forbidden", "The form is stale or not from this page; reload it and try again.")
        return form
