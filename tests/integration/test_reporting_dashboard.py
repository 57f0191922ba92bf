"""The bureau's dashboard, rendered by headless Chromium (Debian's package) after a login.

Chromium opens a page of the same site that fills the dashboard's own login
form (CSRF token included) with a district key and submits it; the login
opens a server-side session and redirects to the dashboard of the scripted
week. The screenshot is kept under
tests/artifacts/ for people to look at; the DOM Chromium built is checked for
the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import shutil
import struct
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import HTMLResponse

from services.reporting.domain.weeks import FIRST_YEAR, LAST_YEAR
from services.reporting.settings import ReportingSettings
from shared.auth.scopes import parse_scope
from shared.db import build_engine
from tests.support import scripted_week as week
from tests.support.browser import Browser
from tests.support.infra import DATA_KEYS
from tests.support.records import TONGDE, XINSHI
from tests.support.reporting import FakeClock, Harness, reporting_harness
from tests.support.system import free_port
from tests.support.waiting import eventually

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
W08 = "2027-W08"


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[Harness, str]]:
    if not CHROMIUM.is_file():  # noqa: ASYNC240 - one stat before anything starts
        pytest.fail("Chromium is missing: run `bash deploy/test-packages.sh` (make test does)")
    clock = FakeClock(datetime.fromisoformat("2027-02-26T12:00:00+08:00"))
    async with reporting_harness(clock) as harness:
        await week.publish_week(harness)
        bureau = await harness.key("district:440111")
        await eventually(lambda: _folded(harness, bureau))
        await _spot_check(harness, bureau)
        harness.app.add_route(AUTO_LOGIN, _auto_login)
        port = free_port()
        config = uvicorn.Config(harness.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        try:
            await eventually(lambda: _started(server))
            yield harness, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_dashboard_in_chromium(served: tuple[Harness, str], tmp_path: Path) -> None:
    harness, base = served
    key = (await harness.key("district:440111"))["authorization"].removeprefix("Bearer ")
    login = f"{base}{AUTO_LOGIN}?" + urlencode({"key": key, "next": f"/dashboard?district={week.BAIYUN}&week={W08}"})

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    await _chromium(tmp_path / "profile-a", f"--screenshot={screenshot}", login)
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 1600)
    assert len(png) > 40_000  # a rendered page, not a blank one

    dom = await _chromium(tmp_path / "profile-b", "--dump-dom", login)
    assert "白云区（440111）流动人口清查周报看板" in dom
    assert 'data-street="440111005"' in dom
    assert 'data-street="440111008"' in dom
    assert '<div class="card" data-figure="new_inflow"><div class="value">3</div>' in dom
    assert "<svg" in dom  # the trend chart, inline
    assert ">W08</text>" in dom
    assert "抽查差错率排名" in dom
    assert "重新清查</span>" in dom  # 同德 flagged
    assert "未反馈通知（按账龄）" in dom
    assert 'name="csrf"' in dom  # the logout form carries the session's token
    assert key not in dom


async def test_dashboard_needs_a_district_key(served: tuple[Harness, str]) -> None:
    harness, _ = served
    anonymous = await harness.client.get("/dashboard", params={"district": week.BAIYUN})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/dashboard/login?next=")
    street = await harness.client.get(
        "/dashboard", params={"district": week.BAIYUN}, headers=await harness.key(f"street:{TONGDE}")
    )
    assert street.status_code == 403
    bearer = await harness.client.get(
        "/dashboard", params={"district": week.BAIYUN, "week": W08}, headers=await harness.key("district:440111")
    )
    assert bearer.status_code == 200
    assert "同德街道" in bearer.text
    # an admin key names no district: the one this deployment serves is shown, not a bare JSON 422
    admin = await harness.client.get("/dashboard", params={"week": W08}, headers=await harness.key("admin"))
    assert admin.status_code == 200
    assert "白云区（440111）流动人口清查周报看板" in admin.text
    async with browser(harness) as client:
        csrf = await login_form(client)
        refused = await client.post("/dashboard/login", data={"key": "pf_nope_nope", "csrf": csrf})
        assert refused.status_code == 401
        assert SESSION not in refused.headers.get("set-cookie", "")


async def test_a_login_opens_a_short_server_side_session_not_a_cookie_with_the_key(
    served: tuple[Harness, str],
) -> None:
    harness, _ = served
    key = (await harness.key("district:440111"))["authorization"].removeprefix("Bearer ")
    async with browser(harness) as client:
        csrf = await login_form(client)
        accepted = await client.post("/dashboard/login", data={"key": key, "next": "//evil.example/", "csrf": csrf})
        assert accepted.status_code == 303
        assert accepted.headers["location"] == f"/dashboard?district={week.BAIYUN}"
        cookie = next(c for c in accepted.headers.get_list("set-cookie") if c.startswith(SESSION))
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Max-Age=3600" in cookie
        assert key not in " ".join(accepted.headers.get_list("set-cookie"))
        token = client.cookies[SESSION]
        stored = await session_rows(harness)
        assert token not in str(stored)
        assert hashlib.sha256(token.encode()).hexdigest() in [row[0] for row in stored]

        page = await client.get("/dashboard", params={"district": week.BAIYUN, "week": W08})
        assert page.status_code == 200
        session_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert session_csrf is not None
        reads = await client.get("/v1/reports/weekly", params={"district": week.BAIYUN, "week": W08})
        assert reads.status_code == 200
        review = {"street": TONGDE, "week": W08, "decision": "accept"}
        assert (await client.post("/v1/reports/weekly/review", json=review)).status_code == 401

        forged = await client.post("/dashboard/logout", data={"csrf": "not-the-token"})
        assert forged.status_code == 403
        assert (await client.get("/dashboard", params={"district": week.BAIYUN, "week": W08})).status_code == 200
        out = await client.post("/dashboard/logout", data={"csrf": session_csrf[1]})
        assert out.status_code == 303
    async with browser(harness, cookies={SESSION: token}) as replayed:
        after = await replayed.get("/dashboard", params={"district": week.BAIYUN, "week": W08})
        assert after.status_code == 303  # revoked at logout: a copied cookie opens nothing


async def test_a_login_form_from_another_site_opens_no_session(served: tuple[Harness, str]) -> None:
    harness, _ = served
    key = (await harness.key("district:440111"))["authorization"].removeprefix("Bearer ")
    async with browser(harness) as client:
        no_token = await client.post("/dashboard/login", data={"key": key})
        assert no_token.status_code == 403
        await login_form(client)
        wrong_token = await client.post("/dashboard/login", data={"key": key, "csrf": "guessed"})
        assert wrong_token.status_code == 403
        assert SESSION not in client.cookies


async def test_every_dashboard_page_runs_no_script_and_cannot_be_framed(served: tuple[Harness, str]) -> None:
    harness, _ = served
    key = (await harness.key("district:440111"))["authorization"].removeprefix("Bearer ")
    async with browser(harness) as client:
        form = await client.get("/dashboard/login", params={"next": "/dashboard"})
        locked_down_page(form)
        locked_down_page(await client.post("/dashboard/login", data={"key": key}))  # 403: no CSRF token
        csrf = await login_form(client)
        locked_down_page(await client.post("/dashboard/login", data={"key": "pf_nope_nope", "csrf": csrf}))  # 401
        csrf = await login_form(client)
        assert (await client.post("/dashboard/login", data={"key": key, "csrf": csrf})).status_code == 303
        page = await client.get("/dashboard", params={"district": week.BAIYUN, "week": W08})
        assert page.status_code == 200
        locked_down_page(page)
        other = await client.get("/dashboard", params={"district": "440106"})
        assert other.status_code == 403  # a problem document, not a page: still neither framed nor sniffed
        assert other.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in other.headers["content-security-policy"]


async def test_the_dashboard_keeps_its_looks_under_its_policy(served: tuple[Harness, str]) -> None:
    harness, base = served
    key = (await harness.key("district:440111"))["authorization"].removeprefix("Bearer ")
    look = await asyncio.to_thread(_styled_after_login, base, key)  # the browser blocks: the server runs here
    assert look == {"header": "rgb(26, 54, 93)", "violations": []}


async def test_the_dashboard_steps_forward_a_week_as_well_as_back_up_to_the_current_one(
    served: tuple[Harness, str],
) -> None:
    # it linked only to the week before: an analyst who stepped back had to edit the address to come forward
    harness, _ = served
    bureau = await harness.key("district:440111")

    async def links(shown: str) -> dict[str, str]:
        page = await harness.client.get("/dashboard", params={"district": week.BAIYUN, "week": shown}, headers=bureau)
        assert page.status_code == 200
        found = re.findall(r'<a href="\?district=440111&amp;week=([0-9W-]+)" id="(\w+)-week">', page.text)
        return {direction: shown for shown, direction in found}

    assert await links("2027-W07") == {"previous": "2027-W06", "next": "2027-W08"}
    assert await links(W08) == {"previous": "2027-W07", "next": "2027-W09"}
    assert await links("2027-W09") == {"previous": W08}  # the current week (the clock says 2027-02-26 12:00)
    assert await links("2026-W53") == {"previous": "2026-W52", "next": "2027-W01"}  # across the year


async def test_the_last_week_of_the_calendar_is_a_page_with_no_week_after_it(served: tuple[Harness, str]) -> None:
    # the link to the week after looked up that week's bounds: past the calendar's last year (9998) they raise,
    # and the page of its last week, a valid one, was a 500 (a week not begun has no link forward anyway)
    harness, _ = served
    last = f"{LAST_YEAR}-W53"
    page = await harness.client.get(
        "/dashboard", params={"district": week.BAIYUN, "week": last}, headers=await harness.key("district:440111")
    )
    assert page.status_code == 200, page.text[:300]
    assert f"<strong>{last}</strong>" in page.text
    assert 'id="previous-week"' in page.text
    assert 'id="next-week"' not in page.text


async def test_the_first_weeks_of_the_calendar_are_pages_with_a_shorter_trend(served: tuple[Harness, str]) -> None:
    # their trend's eight weeks began in 1899, before the calendar's first year: the page was a 422
    harness, _ = served
    for first, previous in ((f"{FIRST_YEAR}-W01", None), (f"{FIRST_YEAR}-W02", f"{FIRST_YEAR}-W01")):
        page = await harness.client.get(
            "/dashboard", params={"district": week.BAIYUN, "week": first}, headers=await harness.key("district:440111")
        )
        assert page.status_code == 200, page.text[:300]
        assert f"<strong>{first}</strong>" in page.text
        shown = re.search(r'week=([0-9W-]+)" id="previous-week"', page.text)
        assert (shown[1] if shown else None) == previous


async def test_a_refused_review_is_said_in_chinese_on_the_dashboard(served: tuple[Harness, str]) -> None:
    # the bureau reviewed only through the API, whose refusals are English; the page reviews now, in Chinese
    harness, base = served
    key = (await harness.key("district:440111"))["authorization"].removeprefix("Bearer ")
    street = XINSHI
    submitted = await harness.client.post(
        "/v1/reports/weekly/submit", headers=await harness.key(f"street:{street}"), json={"street": street, "week": W08}
    )
    assert submitted.status_code == 200, submitted.text
    # in Chromium: the analyst returns the week without a reason, under the page's policy
    in_chromium = await asyncio.to_thread(_return_without_reason_in_chromium, base, key, street)
    assert in_chromium == {"refusal": "新市街道 2027-W08 周报的审核未办理：退回周报须写明退回理由。", "violations": []}
    async with browser(harness) as client:
        csrf = await login_form(client)
        assert (await client.post("/dashboard/login", data={"key": key, "csrf": csrf})).status_code == 303
        page = await client.get("/dashboard", params={"district": week.BAIYUN, "week": W08})
        form = review_form(page.text, street)
        assert form is not None
        assert set(form) == {"csrf", "street", "week"}
        assert review_form(page.text, TONGDE) is None  # only a submitted week has the form

        returned = await client.post("/dashboard/review", data=form | {"decision": "return", "comment": " "})
        assert returned.status_code == 303
        refusal = await client.get(returned.headers["location"])
        assert refusal.status_code == 200
        locked_down_page(refusal)
        said = re.search(r'<p class="error" id="refusal"[^>]*>([^<]+)</p>', refusal.text)
        assert said is not None
        assert said[1] == "新市街道 2027-W08 周报的审核未办理：退回周报须写明退回理由。"
        assert "comment" not in said[1]  # not the API's English
        # the same words from a link made elsewhere (no mark, or another's): not shown
        made_elsewhere = re.sub(r"&said=[0-9a-f]+", "", returned.headers["location"])
        assert made_elsewhere != returned.headers["location"]
        for link in (made_elsewhere, made_elsewhere + "&said=" + "0" * 32):
            assert 'id="refusal"' not in (await client.get(link)).text
        # a code this version does not know (a link from a later one, or made up): the page, without words
        unknown = re.sub(r"refused=[a-z_]+", "refused=no_such_reason", returned.headers["location"])
        assert unknown != returned.headers["location"]
        shown_unknown = await client.get(unknown)
        assert shown_unknown.status_code == 200
        assert 'id="refusal"' not in shown_unknown.text
        async with browser(harness) as other:  # another analyst's session, sent the very link
            csrf = await login_form(other)
            assert (await other.post("/dashboard/login", data={"key": key, "csrf": csrf})).status_code == 303
            assert 'id="refusal"' not in (await other.get(returned.headers["location"])).text

        accepted = await client.post("/dashboard/review", data=form | {"decision": "accept"})
        assert accepted.headers["location"] == f"/dashboard?district={week.BAIYUN}&week={W08}"
        after = await client.get(accepted.headers["location"])
        assert review_form(after.text, street) is None
        assert 'id="refusal"' not in after.text
        # the same form again (a second tab, a second clerk): the week is locked, and the page says so
        again = await client.get(
            (await client.post("/dashboard/review", data=form | {"decision": "accept"})).headers["location"]
        )
        assert "周报已审核通过并锁定，不能再提交或审核。" in again.text

        forged = await client.post("/dashboard/review", data=form | {"csrf": "guessed", "decision": "accept"})
        assert forged.status_code == 403
    # a bearer key (a script) has no session: no form, and the API to review with
    scripted = await harness.client.get(
        "/dashboard", params={"district": week.BAIYUN, "week": W08}, headers=await harness.key("district:440111")
    )
    assert 'action="/dashboard/review"' not in scripted.text


async def test_a_returned_week_shows_why_on_the_dashboard(served: tuple[Harness, str]) -> None:
    # the table said 已退回 and no more: why it came back was in the API's JSON only
    harness, _ = served
    key = (await harness.key("district:440111"))["authorization"].removeprefix("Bearer ")
    earlier = "2027-W07"
    submitted = await harness.client.post(
        "/v1/reports/weekly/submit",
        headers=await harness.key(f"street:{TONGDE}"),
        json={"street": TONGDE, "week": earlier},
    )
    assert submitted.status_code == 200, submitted.text
    async with browser(harness) as client:
        csrf = await login_form(client)
        assert (await client.post("/dashboard/login", data={"key": key, "csrf": csrf})).status_code == 303
        page = await client.get("/dashboard", params={"district": week.BAIYUN, "week": earlier})
        form = review_form(page.text, TONGDE)
        assert form is not None
        returned = await client.post("/dashboard/review", data=form | {"decision": "return", "comment": "核实数<不符>"})
        shown = await client.get(returned.headers["location"])
    row = re.search(rf'<tr data-street="{TONGDE}">(.*?)</tr>', shown.text, re.S)
    assert row is not None
    assert '已退回<span class="returned">（退回理由：核实数&lt;不符&gt;）</span>' in row[1]  # escaped, as all text
    assert 'id="refusal"' not in shown.text


async def test_only_the_streets_own_bureau_reviews_it_from_the_dashboard(served: tuple[Harness, str]) -> None:
    """Who may post the review form: a session of the street's own district. Another district's bureau, a form
    posted without a session, or with a session's token but for a street of another district: 403, the week
    still submitted."""
    harness, _ = served
    street, week_of = TONGDE, "2027-W07"
    submitted = await harness.client.post(
        "/v1/reports/weekly/submit",
        headers=await harness.key(f"street:{street}"),
        json={"street": street, "week": week_of},
    )
    assert submitted.status_code == 200, submitted.text
    tianhe = (await harness.key("district:440106"))["authorization"].removeprefix("Bearer ")
    async with browser(harness) as client:
        csrf = await login_form(client)
        assert (await client.post("/dashboard/login", data={"key": tianhe, "csrf": csrf})).status_code == 303
        form = {"csrf": csrf, "street": street, "week": week_of, "decision": "accept"}
        session_csrf = await _session_token(client)
        another_district = await client.post("/dashboard/review", data=form | {"csrf": session_csrf})
        assert another_district.status_code == 403
    async with browser(harness) as client:  # no session (it ended, say): nothing done; sign in, then the page again
        no_session = await client.post("/dashboard/review", data=form)
        assert no_session.status_code == 303
        back = f"/dashboard?district={week.BAIYUN}&week={week_of}"
        assert no_session.headers["location"] == "/dashboard/login?" + urlencode({"next": back})
        login_page = await client.get(no_session.headers["location"])
        assert login_page.status_code == 200
        assert 'name="next"' in login_page.text
        assert (await client.post("/dashboard/review", data=form | {"street": "x"})).headers["location"] == (
            "/dashboard/login?" + urlencode({"next": "/dashboard"})
        )
    state = await harness.client.get(
        "/v1/reports/weekly", params={"street": street, "week": week_of}, headers=await harness.key("district:440111")
    )
    assert state.status_code == 200, state.text
    assert state.json()["signoff"]["state"] == "submitted"


async def _session_token(client: httpx.AsyncClient) -> str:
    """The CSRF token of the client's dashboard session, as its pages carry it."""
    page = await client.get("/dashboard", params={"district": "440106", "week": W08})
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found[1]


def review_form(page: str, street: str) -> dict[str, str] | None:
    """The hidden fields of a street's review form on the dashboard, None when it has none."""
    form = re.search(
        rf'<form method="post" action="/dashboard/review" class="review" data-street="{street}">(.*?)</form>',
        page,
        re.S,
    )
    if form is None:
        return None
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form[1]))


async def test_a_session_ends_when_its_key_is_revoked_or_its_time_is_up(served: tuple[Harness, str]) -> None:
    harness, _ = served
    ids_and_keys = [await harness.keys.create(parse_scope("district:440111")) for _ in range(2)]
    tokens = []
    for _, key in ids_and_keys:
        async with browser(harness) as client:
            csrf = await login_form(client)
            await client.post("/dashboard/login", data={"key": key, "csrf": csrf})
            tokens.append(client.cookies[SESSION])
    await harness.keys.revoke(ids_and_keys[0][0])
    assert await dashboard_status(harness, tokens[0]) == 303
    assert await dashboard_status(harness, tokens[1]) == 200
    harness.clock.set(harness.clock.now() + timedelta(minutes=61))  # the last test of the module
    assert await dashboard_status(harness, tokens[1]) == 303


async def test_an_admin_key_chooses_among_the_districts_served() -> None:
    clock = FakeClock(datetime.fromisoformat("2027-02-26T12:00:00+08:00"))
    async with reporting_harness(clock, district="440111,440106") as harness:
        chooser = await harness.client.get("/dashboard", headers=await harness.key("admin"))
        assert chooser.status_code == 200
        assert chooser.headers["content-type"].startswith("text/html")
        locked_down_page(chooser)
        assert '<a href="/dashboard?district=440111">白云区（440111）</a>' in chooser.text
        assert '<a href="/dashboard?district=440106">天河区（440106）</a>' in chooser.text
        # a district key goes to its own district, as before
        bureau = await harness.client.get("/dashboard", headers=await harness.key("district:440106"))
        assert bureau.status_code == 200
        assert "天河区（440106）" in bureau.text
        assert "选择区" not in bureau.text


def test_dashboard_cookies_are_secure_outside_development() -> None:
    base = {"POPFLOW_PERSON_KEY_SECRET": "a-production-secret-long-enough", "POPFLOW_DATA_KEYS": DATA_KEYS}
    assert not ReportingSettings.model_validate(base).secure_cookies
    assert ReportingSettings.model_validate(base | {"POPFLOW_ENV": "production"}).secure_cookies
    explicit = base | {"POPFLOW_ENV": "production", "cookie_secure": False}
    assert not ReportingSettings.model_validate(explicit).secure_cookies


SESSION = "popflow_session"
AUTO_LOGIN = "/test-support/auto-login"


def browser(harness: Harness, cookies: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A client with its own cookie jar, as one browser."""
    transport = httpx.ASGITransport(app=harness.app)
    return httpx.AsyncClient(transport=transport, base_url="http://reporting", cookies=cookies, timeout=30)


async def login_form(client: httpx.AsyncClient) -> str:
    form = await client.get("/dashboard/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found is not None
    return found[1]


def locked_down_page(page: httpx.Response) -> None:
    """An HTML page of the dashboard: no script at all, its one style block by nonce, never framed, sniffed,
    kept in a cache or named to another site."""
    assert page.headers["content-type"].startswith("text/html")
    directives = (d.strip().partition(" ") for d in page.headers["content-security-policy"].split(";"))
    policy = {name: value for name, _, value in directives}
    assert policy["default-src"] == "'none'"
    assert "script-src" not in policy  # default-src 'none' holds for scripts
    nonce = re.search(r'<style nonce="([^"]+)">', page.text)
    assert nonce is not None
    assert policy["style-src"] == f"'nonce-{nonce[1]}'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert policy["base-uri"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def _styled_after_login(base: str, key: str) -> dict[str, object]:
    """Log in through the form in Chromium; the header's colour and any policy violation on the dashboard."""
    with _logged_in_chromium(base, key) as chromium:
        header = chromium.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
        return {"header": header, "violations": chromium.evaluate("window.violations")}


def _return_without_reason_in_chromium(base: str, key: str, street: str) -> dict[str, object]:
    """Log in through the form in Chromium, press 退回 in `street`'s row with no reason; what the page says then."""
    with _logged_in_chromium(base, key) as chromium:
        chromium.submit(
            f"const form = document.querySelector('form.review[data-street=\"{street}\"]');"
            " form.elements['comment'].value = ' '; form.querySelector('button[value=return]').click();"
        )
        refusal = chromium.evaluate("document.getElementById('refusal').textContent")
        return {"refusal": refusal, "violations": chromium.evaluate("window.violations")}


@contextlib.contextmanager
def _logged_in_chromium(base: str, key: str) -> Iterator[Browser]:
    """Chromium on the dashboard of the scripted week after a login through the form, collecting the policy
    violations of every page it opens in `window.violations`."""
    chromium = Browser()
    try:
        chromium.call(
            "Page.addScriptToEvaluateOnNewDocument",
            {
                "source": "window.violations = []; document.addEventListener('securitypolicyviolation',"
                " e => window.violations.push(e.violatedDirective));"
            },
        )
        chromium.open(f"{base}/dashboard/login?" + urlencode({"next": f"/dashboard?district={week.BAIYUN}&week={W08}"}))
        chromium.submit(f"document.forms[0].elements['key'].value = {json.dumps(key)}; document.forms[0].submit();")
        yield chromium
    finally:
        chromium.close()


async def dashboard_status(harness: Harness, token: str) -> int:
    async with browser(harness, cookies={SESSION: token}) as client:
        return (await client.get("/dashboard", params={"district": week.BAIYUN, "week": W08})).status_code


async def session_rows(harness: Harness) -> list[tuple[str, ...]]:
    engine = build_engine(harness.settings.database_url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in (await connection.execute(text("SELECT * FROM dashboard_sessions"))).all()]
    finally:
        await engine.dispose()


async def _chromium(profile: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
        "--virtual-time-budget=15000",  # wait for the login redirect and the page to settle
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
    return out.decode("utf-8", errors="replace")


async def _auto_login(request: Request) -> HTMLResponse:
    # A page of the dashboard's own site (the test's, not the product's): it fills the real
    # login form, CSRF token and all, and submits it. The dashboard itself has no script.
    key, next_page = json.dumps(request.query_params["key"]), json.dumps(request.query_params["next"])
    return HTMLResponse(f"""<!doctype html><html><body>
<script>
// synchronous on purpose: headless Chromium's virtual time stalls after a navigation begun in a promise
const request = new XMLHttpRequest();
request.open("GET", "/dashboard/login", false);
request.send();
const form = new DOMParser().parseFromString(request.responseText, "text/html").forms[0];
document.body.appendChild(document.importNode(form, true));
document.forms[0].elements["key"].value = {key};
document.forms[0].elements["next"].value = {next_page};
document.forms[0].submit();
</script></body></html>""")


async def _folded(harness: Harness, headers: dict[str, str]) -> bool:
    response = await harness.get("/v1/reports/weekly", headers, district=week.BAIYUN, week=W08)
    figures = response.json()["figures"]
    return bool(
        figures["rejected_at_intake"] == 1 and figures["received_inter-district"] == 1 and figures["new_inflow"] == 3
    )


async def _spot_check(harness: Harness, bureau: dict[str, str]) -> None:
    draw = {"district": week.BAIYUN, "seed": "dash", "size_per_street": 2, "week_from": "2027-W07", "week_to": W08}
    check = (await harness.client.post("/v1/spotchecks", headers=bureau, json=draw)).json()
    for street, ids in check["sample"].items():
        for record_id in ids:
            result = "wrong" if street == TONGDE else "correct"
            body = {"record_id": record_id, "result": result}
            await harness.client.post(f"/v1/spotchecks/{check['check_id']}/results", headers=bureau, json=body)


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)
