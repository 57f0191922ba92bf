"""The bureau's review of a street's submitted week, from the dashboard's streets table.

The form posts here under the session's CSRF token; the step is the API's own (service_layer/signoffs.py).
Either way the browser goes back to the district page: a refusal rides along as its stable code
(shared.signoff_refusals.Refusal) and the page says it in Chinese (the same module), never the English detail
the API gives integrators. A script reviews through POST /v1/reports/weekly/review instead.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.reporting.domain.signoff import Decision
from services.reporting.entrypoints.http.access import require_bureau
from services.reporting.service_layer import signoffs
from services.reporting.service_layer.errors import Conflict
from services.reporting.service_layer.logins import Session, tokens_match
from services.reporting.service_layer.reports import ReportService
from shared.auth.scopes import Principal
from shared.directory.divisions import district_of
from shared.http.problems import ProblemError

STREET = re.compile(r"[0-9]{9}")
WEEK = re.compile(r"[0-9]{4}-W[0-9]{2}")
COMMENT_MAX = 500  # as the API's Review.comment
LOGIN_PATH = "/dashboard/login"
DECISIONS = {decision.value: decision for decision in Decision}

Visitor = Callable[[Request], Awaitable[tuple[Principal | None, Session | None]]]


def add_review_route(router: APIRouter, visitor: Visitor, service: ReportService) -> None:
    @router.post("/review")
    async def review(request: Request) -> Response:
        form = form_fields(await request.body())
        principal, session = await visitor(request)
        street, week, comment = form.get("street", ""), form.get("week", ""), form.get("comment", "")
        well_formed = bool(STREET.fullmatch(street) and WEEK.fullmatch(week))
        back = {"district": district_of(street), "week": week} if well_formed else {}
        if principal is None:
            # the analyst's session ended (or the form never had one): nothing is done; the login form, then the
            # district page again, where the week still waits for its review
            return to_login("/dashboard" + (f"?{urlencode(back)}" if back else ""))
        if session is None or not tokens_match(session.csrf_token, form.get("csrf", "")):
            raise ProblemError(403, "Forbidden", "This review form is not from your dashboard session; reload it.")
        decision = DECISIONS.get(form.get("decision", ""))
        if not well_formed or decision is None or len(comment) > COMMENT_MAX:
            raise ProblemError(422, "Unprocessable Entity", "The review form's street, week, decision or comment.")
        require_bureau(session.principal, district_of(street))
        try:
            await signoffs.review_week(service, street, week, decision, comment)
        except Conflict as refused:
            if refused.reason is None:
                raise
            told = {"street": street, "refused": str(refused.reason)}
            back |= told | {"said": refusal_mark(session.csrf_token, week=week, **told)}
        return RedirectResponse("/dashboard?" + urlencode(back), status_code=303)


def to_login(wanted: str) -> RedirectResponse:
    """To the login form, which comes back to `wanted` (a path of this dashboard)."""
    return RedirectResponse(f"{LOGIN_PATH}?{urlencode({'next': wanted})}", status_code=303)


def refusal_mark(csrf_token: str, *, street: str, week: str, refused: str) -> str:
    """What shows that a refusal in the dashboard's address came from this session's own review: a link made
    elsewhere (`?street=...&refused=already_accepted`) would otherwise put a refusal's words on an analyst's page."""
    said = f"{street}|{week}|{refused}".encode()
    return hmac.new(csrf_token.encode(), said, hashlib.sha256).hexdigest()[:32]


def form_fields(body: bytes) -> dict[str, str]:
    """A urlencoded form, first value of each field."""
    return {name: values[0] for name, values in parse_qs(body.decode("utf-8", errors="replace")).items()}
