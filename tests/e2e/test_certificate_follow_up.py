"""Issue 13 item 6: certificates followed up per street, cleared by a later certificate change record.

Intake and reporting run as processes on the real Kafka and PostgreSQL;
records go in through intake's HTTP API, the list comes out of reporting
(JSON and XLSX). Dates are relative to today: reporting reads the list as of
its own clock.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest

from tests.support.records import TONGDE, XINSHI, record
from tests.support.system import System, build_system, destroy_system
from tests.support.waiting import eventually

ZONE = ZoneInfo("Asia/Shanghai")


def today() -> date:
    """The day in the deployment's zone now: read when used, not at import (minutes earlier, perhaps the day
    before midnight)."""
    return datetime.now(ZONE).date()


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = await build_system(Path(tmp_path_factory.mktemp("logs")), {"POPFLOW_TIMEZONE": "Asia/Shanghai"})
    try:
        running.start_together("intake", "reporting")
        yield running
    finally:
        await destroy_system(running)


def checked(sequence: int, certificate: dict[str, Any] | None, *, event: str = "new_inflow") -> dict[str, Any]:
    seen = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = record(sequence=sequence, residence_street=TONGDE, observed_at=seen, event=event)
    body["person"]["name"] = "=HYPERLINK(1)"  # a name never reaches the list, formula or not
    if certificate is not None:
        body["certificate"] = {"checked_on": (today() - timedelta(days=1)).isoformat(), **certificate}
    return body


def valid(until: date) -> dict[str, Any]:
    return {"result": "valid", "number": "粤婚育2026001", "valid_until": until.isoformat()}


async def submit(client: httpx.AsyncClient, system: System, body: dict[str, Any]) -> httpx.Response:
    return await client.post(system.url("intake") + "/v1/records", json=body, headers=await system.admin_headers())


async def accepted(client: httpx.AsyncClient, system: System, body: dict[str, Any]) -> str:
    response = await submit(client, system, body)
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


async def follow_up(client: httpx.AsyncClient, system: System, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(
        system.url("reporting") + "/v1/certificates/follow-up",
        params={"street": TONGDE, "within_days": 30},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_street_follows_up_expiring_expired_and_missing_certificates_until_renewed(
    system: System,
) -> None:
    office = {"Authorization": f"Bearer {await system.create_key(f'street:{TONGDE}')}"}
    other = {"Authorization": f"Bearer {await system.create_key(f'street:{XINSHI}')}"}
    async with httpx.AsyncClient(timeout=20) as client:
        expiring_on, expired_on = today() + timedelta(days=10), today() - timedelta(days=20)
        expiring = await accepted(client, system, checked(301, valid(expiring_on)))
        missing = await accepted(client, system, checked(303, {"result": "missing"}))
        expired = await accepted(client, system, checked(305, {"result": "expired", "valid_until": str(expired_on)}))
        await accepted(client, system, checked(307, valid(today() + timedelta(days=400))))  # valid beyond the window
        await accepted(client, system, checked(309, {"result": "missing"}))
        await accepted(client, system, checked(309, None, event="outflow"))  # left: not followed up here
        expected = {missing, expired, expiring}

        async def listed() -> dict[str, Any] | None:
            body = await follow_up(client, system, office)
            return body if {item["record_id"] for item in body["items"]} == expected else None

        body = await eventually(listed)
        kinds = {item["record_id"]: (item["follow_up"], item["days_left"]) for item in body["items"]}
        days_left = {expired: (expired_on - today()).days, expiring: (expiring_on - today()).days}  # -20 and 10,
        followed = {missing: ("missing", None), expired: ("expired", days_left[expired])}  # unless past midnight
        assert kinds == followed | {expiring: ("expiring", days_left[expiring])}
        assert [item["record_id"] for item in body["items"]] == [missing, expired, expiring]  # most urgent first
        assert "HYPERLINK" not in str(body)
        refused = await client.get(
            system.url("reporting") + "/v1/certificates/follow-up", params={"street": TONGDE}, headers=other
        )
        assert refused.status_code == 403

        sheet = await client.get(
            system.url("reporting") + "/v1/certificates/follow-up.xlsx", params={"street": TONGDE}, headers=office
        )
        assert sheet.status_code == 200, sheet.text
        rows = list(openpyxl.load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
        assert rows[3][:3] == ("记录编号", "街道代码", "情况")
        assert [row[0] for row in rows[4:]] == [missing, expired, expiring]
        assert [row[2] for row in rows[4:]] == ["未办证", "已过期", "即将到期"]

        renewal = checked(301, valid(today() + timedelta(days=3 * 365)), event="change") | {"change": "certificate"}
        without = {k: v for k, v in renewal.items() if k != "certificate"}
        assert (await submit(client, system, without)).status_code == 422  # a certificate change carries the check
        as_inflow = renewal | {"event": "new_inflow"}
        assert (await submit(client, system, as_inflow)).status_code == 422  # `change` belongs to a change record
        await accepted(client, system, renewal)

        async def cleared() -> dict[str, Any] | None:
            body = await follow_up(client, system, office)
            return body if expiring not in {item["record_id"] for item in body["items"]} else None

        body = await eventually(cleared)
        assert {item["record_id"] for item in body["items"]} == {missing, expired}
