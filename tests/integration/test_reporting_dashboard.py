"""The bureau's dashboard, rendered by headless Chromium (Debian's package) after a login.

Chromium opens a local page whose form logs in with a district key (the
dashboard's login form, which sets an HttpOnly cookie) and is redirected to
the dashboard of the scripted week. The screenshot is kept under
tests/artifacts/ for people to look at; the DOM Chromium built is checked for
the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import shutil
import socket
import struct
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import uvicorn

from tests.support import scripted_week as week
from tests.support.records import TONGDE
from tests.support.reporting import FakeClock, Harness, reporting_harness
from tests.support.waiting import eventually

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
W08 = "2027-W08"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    login = tmp_path / "login.html"
    login.write_text(_auto_login(base, key, f"/dashboard?district={week.BAIYUN}&week={W08}"), encoding="utf-8")

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    await _chromium(tmp_path / "profile-a", f"--screenshot={screenshot}", login.as_uri())
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 1600)
    assert len(png) > 40_000  # a rendered page, not a blank one

    dom = await _chromium(tmp_path / "profile-b", "--dump-dom", login.as_uri())
    assert "白云区（440111）流动人口清查周报看板" in dom
    assert 'data-street="440111005"' in dom
    assert 'data-street="440111008"' in dom
    assert '<div class="card" data-figure="new_inflow"><div class="value">3</div>' in dom
    assert "<svg" in dom  # the trend chart, inline
    assert ">W08</text>" in dom
    assert "抽查差错率排名" in dom
    assert "重新清查</span>" in dom  # 同德 flagged
    assert "未反馈通知（按账龄）" in dom


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
    refused = await harness.client.post("/dashboard/login", content="key=pf_nope_nope")
    assert refused.status_code == 401
    assert "set-cookie" not in refused.headers
    key = (await harness.key("district:440111"))["authorization"].removeprefix("Bearer ")
    accepted = await harness.client.post("/dashboard/login", content=f"key={key}&next=//evil.example/")
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/dashboard?district={week.BAIYUN}"
    cookie = accepted.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


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


def _auto_login(base: str, key: str, next_page: str) -> str:
    # The test's own page submits the dashboard's login form; the dashboard has no script.
    return f"""<!doctype html><html><body>
<form method="post" action="{base}/dashboard/login">
<input type="hidden" name="key" value="{html.escape(key)}">
<input type="hidden" name="next" value="{html.escape(next_page)}">
</form><script>document.forms[0].submit()</script></body></html>"""


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
