"""The street office's page: server-rendered, no script, in the manner of reporting's dashboard.

Most street offices have no system to receive webhooks; a clerk logs in with
the street's office key and works the inbox here. The page lives in
notification because the inbox does: answers take the same use case as the
API's feedback route. The login makes a short-lived server-side session (the
cookie holds a random token, never the key); every form carries the session's
CSRF token. The weekly report is submitted to reporting's sign-off API,
server to server, under the clerk's own key.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.notification.entrypoints.office.common import OfficePages
from services.notification.entrypoints.office.inbox import inbox_router
from services.notification.entrypoints.office.login import login_router
from services.notification.entrypoints.office.notices import notice_router
from services.notification.service_layer.office import Desk
from shared.http.cookies import BrowserCookie


def session_cookie(secure: bool) -> BrowserCookie:
    """The clerk's session."""
    return BrowserCookie("popflow_office", secure)


def login_cookie(secure: bool) -> BrowserCookie:
    """The login form's CSRF token."""
    return BrowserCookie("popflow_office_login", secure)


def office_router(desk: Desk, *, secure_cookie: bool, lifetime_s: int) -> APIRouter:
    """The office's routes by what they do: logging in and out, the street's inbox, one notice and its answer."""
    office = OfficePages(desk, session_cookie(secure_cookie))
    router = APIRouter(tags=["office"], include_in_schema=False)
    router.include_router(login_router(office, login_csrf=login_cookie(secure_cookie), lifetime_s=lifetime_s))
    router.include_router(inbox_router(office))
    router.include_router(notice_router(office))
    return router
