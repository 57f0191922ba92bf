"""Who is calling: an API key as a bearer header or, for browsers, a dashboard session cookie."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from services.reporting.service_layer.logins import Logins
from shared.auth.dependencies import require
from shared.auth.scopes import Action, Principal, ScopeKind
from shared.auth.store import KeyStore
from shared.http.cookies import BrowserCookie
from shared.http.problems import ProblemError

Authenticate = Callable[[Request], Awaitable[Principal]]


def bearer_key(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def session_cookie(secure: bool) -> BrowserCookie:
    """The dashboard session's cookie, which the reports' GET routes read too."""
    return BrowserCookie("popflow_session", secure)


def caller(store: KeyStore, logins: Logins, cookie: BrowserCookie) -> Authenticate:
    """A dependency: the principal behind the bearer key or the dashboard session; 401 otherwise.

    The session counts for reading (GET) only: a change needs the bearer header,
    so another site cannot make a logged-in browser submit or review anything.
    """

    async def authenticate(request: Request) -> Principal:
        key = bearer_key(request)
        if key is not None:
            principal = await store.authenticate(key)
            if principal is None:
                raise ProblemError(401, "Unauthorized", "This API key is not valid or has been revoked.")
            return principal
        token = cookie.read(request) if request.method in ("GET", "HEAD") else ""
        session = await logins.session_of(token) if token else None
        if session is None:
            raise ProblemError(
                401, "Unauthorized", "Send your API key as 'Authorization: Bearer <key>' or log in at /dashboard/login."
            )
        return session.principal

    return authenticate


def require_bureau(principal: Principal, district: str) -> None:
    """403 unless the caller supervises `district`: its bureau, or an admin."""
    require(principal, Action.SUPERVISE, district)


def require_own_street(principal: Principal, street: str) -> None:
    """The street office itself (or an admin) answers for its street: a bureau does not submit a
    street's report for it, and a submitter key answers nothing."""
    require(principal, Action.ANSWER, street)
    if principal.scope.kind is ScopeKind.DISTRICT:
        raise ProblemError(
            403, "Forbidden", f"Only the street office {street} submits its report; your key is {principal.scope}."
        )


def require_access_to(principal: Principal, code: str) -> None:
    """Reading: a street office its street, a bureau its district and streets, admin everything."""
    require(principal, Action.READ, code)


def require_in_district(principal: Principal, district: str) -> None:
    """Reading what belongs to the whole district: its bureau, one of its street offices, or an admin."""
    require(principal, Action.READ)
    if not (principal.is_admin or principal.scope.code[:6] == district):
        raise ProblemError(403, "Forbidden", f"Your key's scope ({principal.scope}) lies outside district {district}.")


def require_office_of(principal: Principal, street: str) -> None:
    """Writing a street's own plan (key areas, canvass dates): its office, its bureau, or an admin."""
    require(principal, Action.ANSWER, street)


def require_district_or_street(principal: Principal, district: str, street: str | None) -> str:
    """The code a caller reads of a district's spot check: a street office its own street (given or not),
    a bureau the whole district or one of its streets, an admin anything. A street of another district is
    refused: its office would read an empty answer that still told it the check exists."""
    if street is None and principal.scope.kind is ScopeKind.STREET:
        street = principal.scope.code
    if street is None:
        require_bureau(principal, district)
        return district
    require_access_to(principal, street)
    if street[:6] != district and not principal.is_admin:
        raise ProblemError(403, "Forbidden", f"Street {street} lies outside district {district}, whose check this is.")
    return street
