"""The street office's page and retired division codes, end to end: the four services as processes.

A clerk of 新市 logs in on notification's office page in headless Chromium,
answers a cross-street notice reported by 同德, and 同德's case at routing
shows the answer. The screenshot is kept under tests/artifacts/. Beside it:
a record naming a retired street (沙湾镇 440113118, now 沙湾街道 440113017)
is accepted with a warning and its notice reaches the successor's inbox.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from tests.support.browser import CHROMIUM, Browser
from tests.support.records import TONGDE, XINSHI, record
from tests.support.routing import case_of
from tests.support.system import SERVICES, System, build_system, destroy_system
from tests.support.waiting import eventually
from tests.support.words import english_words, visible_text

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SHIQIAO, SHAWAN_TOWN, SHAWAN_STREET = "440113007", "440113118", "440113017"  # Panyu


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    if not CHROMIUM.is_file():
        pytest.fail("Chromium is missing: run `bash deploy/test-packages.sh` (make test does)")
    running = await build_system(Path(tmp_path_factory.mktemp("logs")), {"POPFLOW_SERVED_DISTRICTS": "440111,440113"})
    running.env["NOTIFICATION_REPORTING_URL"] = running.url("reporting")
    try:
        for service in SERVICES:
            running.start(service, wait=False)
        for service in SERVICES:
            running.wait_ready(service)
        yield running
    finally:
        await destroy_system(running)


async def submit(system: System, key: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            system.url("intake") + "/v1/records", json=body, headers={"Authorization": f"Bearer {key}"}
        )
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def notice_in_inbox(system: System, recipient: str, record_id: str) -> dict[str, Any]:
    headers = await system.admin_headers()

    async def probe() -> dict[str, Any] | None:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(system.url("notification") + f"/v1/inbox/{recipient}", headers=headers)
        assert response.status_code == 200, response.text
        found = [n for n in response.json()["notices"] if n["record_id"] == record_id]
        return found[0] if found else None

    notice: dict[str, Any] = await eventually(probe)
    return notice


async def test_a_retired_street_is_accepted_with_a_warning_and_its_notice_goes_to_the_successor(
    system: System,
) -> None:
    reporter = await system.create_key(f"street:{SHIQIAO}")
    answer = await submit(system, reporter, record(reporting_street=SHIQIAO, residence_street=SHAWAN_TOWN))
    (warning,) = answer["warnings"]
    assert (warning["field"], warning["code"]) == ("residence.street", SHAWAN_TOWN)
    assert f"successor {SHAWAN_STREET}" in warning["note"]

    notice = await notice_in_inbox(system, SHAWAN_STREET, answer["record_id"])
    assert f"{SHAWAN_TOWN} was retired" in notice["reason"]
    async with httpx.AsyncClient(timeout=10) as client:
        headers = {"Authorization": f"Bearer {reporter}"}

        async def decided() -> httpx.Response | None:
            """Routing's decision, once committed: routing publishes the notice before it commits."""
            response = await client.get(system.url("routing") + f"/v1/decisions/{answer['record_id']}", headers=headers)
            return None if response.status_code == 404 else response

        decision = await eventually(decided)
    assert decision.status_code == 200, decision.text
    assert (decision.json()["residence_street"], decision.json()["route"]) == (SHAWAN_STREET, "cross-street")


async def test_a_clerk_answers_a_cross_street_notice_on_the_office_page(system: System) -> None:
    tongde, xinshi = await system.create_key(f"street:{TONGDE}"), await system.create_key(f"street:{XINSHI}")
    answered = await submit(system, tongde, record(reporting_street=TONGDE, residence_street=XINSHI, sequence=21))
    still_open = await submit(
        system, tongde, record(reporting_street=TONGDE, residence_street=XINSHI, sequence=23, name="=1+2")
    )
    for created in (answered, still_open):
        await notice_in_inbox(system, XINSHI, created["record_id"])

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "office.png"
    screenshot.unlink(missing_ok=True)
    dom = await asyncio.to_thread(_clerk_answers, system.url("notification"), xinshi, answered["record_id"], screenshot)
    assert "已反馈：核实有误（更正）" in dom
    assert "现住址 = 新市街道 新市路 1 号" in dom
    assert english_words(visible_text(dom)) == []  # the clerk reads Chinese: no API value shown raw
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    async with httpx.AsyncClient(timeout=10) as client:
        headers = {"Authorization": f"Bearer {tongde}"}

        async def case_corrected() -> dict[str, Any] | None:
            case = await case_of(client, system.url("routing"), answered["record_id"], headers)
            return case if case and case["status"] == "corrected" else None

        case = await eventually(case_corrected)
    (transfer,) = [n for n in case["notices"] if n["kind"] == "transfer" and n["case_version"] == 1]
    assert (transfer["recipient_code"], transfer["result"]) == (XINSHI, "corrected")
    assert case["version"] == 2


async def test_the_sheet_the_weekly_report_and_the_doors(system: System) -> None:
    xinshi = await system.create_key(f"street:{XINSHI}")
    base = system.url("notification")
    async with httpx.AsyncClient(base_url=base, timeout=30) as clerk:
        # a login form posted from another site (no token of this site's form): no session, the key not tried
        forged = await clerk.post("/office/login", data={"key": xinshi, "csrf": "made-up"})
        assert forged.status_code == 403
        assert "popflow_office=" not in forged.headers.get("set-cookie", "")

        def token(page: str) -> str:
            return page.split('name="csrf" value="')[1].split('"')[0]

        form = await clerk.get("/office/login")
        district = await system.create_key("district:440111")
        refused = await clerk.post("/office/login", data={"key": district, "csrf": token(form.text)})
        assert refused.status_code == 401
        assert "popflow_office=" not in refused.headers.get("set-cookie", "")
        assert (await clerk.get("/office")).headers["location"] == "/office/login"

        login = await clerk.post("/office/login", data={"key": xinshi, "csrf": token(refused.text)})
        assert login.status_code == 303
        [cookie] = [c for c in login.headers.get_list("set-cookie") if c.startswith("popflow_office=")]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert xinshi not in cookie  # the cookie holds a session token, never the key

        sheet = await clerk.get("/office/open.xlsx")
        assert sheet.status_code == 200
        assert sheet.headers["cache-control"] == "no-store"  # names and identity numbers: no cache keeps them
        assert (await clerk.get("/office")).headers["cache-control"] == "no-store"
        rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
        names = [row[3] for row in rows[1:]]
        assert {(row[1], row[2]) for row in rows[1:]} == {("转办核实", "街道间")}
        assert "'=1+2" in names  # a formula-looking name stays text
        assert all(not str(cell).startswith(("=", "+", "-", "@")) for row in rows for cell in row if cell)

        page = (await clerk.get("/office")).text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        forged = await clerk.post("/office/weekly", data={"csrf": "forged", "week": "2027-W08"})
        assert forged.status_code == 403
        week = page.split('name="week" value="')[1].split('"')[0]
        submitted = await clerk.post("/office/weekly", data={"csrf": csrf, "week": week})
        assert submitted.status_code == 303, submitted.text
        again = await clerk.post("/office/weekly", data={"csrf": csrf, "week": week})
        assert again.status_code == 409  # reporting refuses a week already submitted, and the page says so
        assert "已上报，不能重复提交" in again.text

        await clerk.post("/office/logout", data={"csrf": csrf})
        assert (await clerk.get("/office")).status_code == 303


def _clerk_answers(base: str, key: str, record_id: str, screenshot: Path) -> str:
    """In Chromium: log in, open the notice of `record_id` from the inbox, answer it as corrected."""
    browser = Browser()
    try:
        browser.open(f"{base}/office/login")
        browser.submit(f"document.getElementById('key').value = {json.dumps(key)}; document.forms[0].submit()")
        inbox = browser.dom()
        assert "新通知（待反馈）" in inbox, inbox[-2000:]
        notice_id = browser.evaluate(f"document.querySelector('#new tr[data-record=\"{record_id}\"]').dataset.notice")
        assert notice_id, "the notice is not in the 'new' pile"
        browser.open(f"{base}/office/notices/{notice_id}")
        browser.submit(
            "document.getElementById('result-corrected').checked = true;"
            "document.getElementById('correct-residence_address').value = '新市街道 新市路 1 号';"
            "document.getElementById('note').value = '已上门核实';"
            "document.getElementById('send-answer').form.submit()"
        )
        browser.screenshot(screenshot)
        answered = browser.dom()
        browser.open(f"{base}/office")
        browser.screenshot(screenshot.with_name("office-inbox.png"))
        assert f'data-record="{record_id}"' in browser.evaluate("document.getElementById('answered').innerHTML")
        return answered
    finally:
        browser.close()
