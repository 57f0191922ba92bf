"""What every group of office routes asks of a visit: who the clerk is, whether a posted form is theirs, a page."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.notification.adapters.tables import utc
from services.notification.domain import office_labels
from services.notification.domain.office_reasons import reason_in_chinese
from services.notification.entrypoints.office.messages import problem_message
from services.notification.service_layer.office import Clerk, Desk
from shared.http.cookies import BrowserCookie
from shared.http.problems import ProblemError

PREFIX = "/office"
TEMPLATES = Path(__file__).resolve().parent / "templates"
LOGIN_PATH = "/office/login"
TOKEN_LENGTH = 100  # at most: a longer cookie is no session's
# pages and sheets show names and identity numbers: kept by no browser cache or proxy (a street office's shared PC)
NOT_KEPT = {"Cache-Control": "no-store"}


# the API's values as the clerk reads them: `{{ notice.kind|kind }}`
LABEL_FILTERS: dict[str, Callable[[str], str]] = {
    "kind": office_labels.kind_label,
    "route": office_labels.route_label,
    "status": office_labels.status_label,
    "result": office_labels.result_label,
    "rejection": office_labels.rejection_label,
    "field": office_labels.field_label,
    "reason": reason_in_chinese,
}
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class OfficePages:
    """The desk behind the pages, their templates and the clerk's session cookie, shared by every route group."""

    def __init__(self, desk: Desk, session: BrowserCookie) -> None:
        self.desk = desk
        self.session = session
        self._templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
        self._templates.filters["local"] = lambda moment: utc(moment).astimezone(desk.zone).strftime("%Y-%m-%d %H:%M")
        self._templates.filters.update(LABEL_FILTERS)

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

    def route_class(self) -> type[APIRoute]:
        """Routes whose refusals (a stale form, a notice not found, a malformed link) are pages in Chinese.

        Elsewhere a refusal is a problem document (JSON, English) for a program; a clerk's browser gets a page.
        """
        office = self

        class OfficeRoute(APIRoute):
            def get_route_handler(self) -> Handler:
                handler = super().get_route_handler()

                async def handle(request: Request) -> Response:
                    try:
                        return await handler(request)
                    except ProblemError as refused:
                        return office.page(
                            "refused.html", status=refused.status, message=problem_message(refused.status)
                        )
                    except RequestValidationError:
                        return office.page("refused.html", status=422, message=problem_message(400))

                return handle

        return OfficeRoute
