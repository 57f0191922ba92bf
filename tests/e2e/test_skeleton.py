"""The walking skeleton end to end: intake → Kafka → routing → notification and reporting."""

from __future__ import annotations

import asyncio
import functools
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from services.reporting.domain.weeks import report_week_of
from tests.support import kafka, records
from tests.support.records import LUJIAZUI, TONGDE, WUSHAN, XINSHI
from tests.support.system import System
from tests.support.waiting import eventually


async def admin_client(system: System) -> httpx.AsyncClient:
    """Every intake request carries an API key (issue 3); other services ignore it."""
    key = await system.create_key("admin")
    return httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {key}"})


async def submit(client: httpx.AsyncClient, system: System, body: dict[str, Any]) -> str:
    response = await client.post(system.url("intake") + "/v1/records", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    return str(response.json()["record_id"])


async def routed(client: httpx.AsyncClient, system: System, record_id: str) -> str | None:
    response = await client.get(system.url("intake") + f"/v1/records/{record_id}")
    assert response.status_code == 200
    return response.json()["route"]  # type: ignore[no-any-return]


async def test_every_route_reaches_inbox_and_weekly_report(system: System) -> None:
    cases = {
        "same-district": records.record(reporting_street=TONGDE, residence_street=TONGDE, sequence=11),
        "cross-street": records.record(reporting_street=TONGDE, residence_street=XINSHI, sequence=12),
        "inter-district": records.record(reporting_street=TONGDE, residence_street=WUSHAN, sequence=13),
        "inter-province": records.record(reporting_street=TONGDE, residence_street=LUJIAZUI, sequence=14),
    }
    async with await admin_client(system) as client:
        ids = {case: await submit(client, system, body) for case, body in cases.items()}
        expected = {
            "same-district": "same-district",
            "cross-street": "cross-street",
            "inter-district": "inter-district",
            "inter-province": "inter-district",
        }
        for case, route in expected.items():
            got = await eventually(functools.partial(routed, client, system, ids[case]))
            assert got == route, case

        admin = await system.create_key("admin")
        inbox = {
            recipient: await eventually(functools.partial(_inbox, client, system, recipient, admin))
            for recipient in (XINSHI, "440106", "310115")
        }
        assert [n["record_id"] for n in inbox[XINSHI]] == [ids["cross-street"]]
        assert inbox[XINSHI][0]["route"] == "cross-street"
        assert [n["record_id"] for n in inbox["440106"]] == [ids["inter-district"]]
        assert [n["record_id"] for n in inbox["310115"]] == [ids["inter-province"]]
        assert all(re.fullmatch(r"[0-9a-f-]{36}", n["notice_id"]) for n in inbox[XINSHI])
        assert await _inbox(client, system, TONGDE, admin) == []  # same-district: no notice

        street_key = await system.create_key(f"street:{TONGDE}")

        async def weekly() -> dict[str, Any] | None:
            response = await client.get(
                system.url("reporting") + "/v1/reports/weekly",
                params={"street": TONGDE, "week": "2026-W09"},
                headers={"authorization": f"Bearer {street_key}"},
            )
            body: dict[str, Any] = response.json()
            return body if sum(body["routes"].values()) == 4 else None

        report = await eventually(weekly)
        assert report["records"] == 4
        assert report["routes"] == {"same-district": 1, "cross-street": 1, "inter-district": 2}


async def test_bad_record_lists_every_bad_field(system: System) -> None:
    body = records.record()
    body["person"]["id_number"] = body["person"]["id_number"][:17] + (
        "0" if body["person"]["id_number"][17] != "0" else "1"
    )
    body["residence"]["street"] = "440111999"  # well-formed, not in the directory
    del body["observed_at"]
    async with await admin_client(system) as client:
        response = await client.post(system.url("intake") + "/v1/records", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    pointers = {error["pointer"] for error in response.json()["errors"]}
    assert pointers == {"/person/id_number", "/residence/street", "/observed_at"}
    assert body["person"]["id_number"] not in response.text


async def test_logs_carry_correlation_ids_and_no_personal_data(system: System) -> None:
    body = records.record(sequence=21, residence_street=XINSHI, name="李四")
    async with await admin_client(system) as client:
        record_id = await submit(client, system, body)
        await eventually(lambda: routed(client, system, record_id))
    logs = "".join(system.log_text(service) for service in ("intake", "routing", "notification"))
    assert record_id in logs
    assert body["person"]["id_number"] not in logs
    assert "李四" not in logs


async def _inbox(client: httpx.AsyncClient, system: System, recipient: str, key: str) -> list[dict[str, Any]]:
    response = await client.get(
        system.url("notification") + f"/v1/inbox/{recipient}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200
    return response.json()["notices"]  # type: ignore[no-any-return]


async def test_rejected_records_are_counted_once_in_the_weekly_report(system: System) -> None:
    body = records.record(reporting_street=XINSHI, sequence=51)
    body["residence"]["street"] = "440111999"  # not in the directory
    body["person"]["name"] = ""
    street_key = await system.create_key(f"street:{XINSHI}")
    async with await admin_client(system) as client:
        before = report_week_of(datetime.now(UTC), ZoneInfo("Asia/Shanghai"))
        for _ in range(2):  # the same wrong record sent twice is one rejection
            response = await client.post(system.url("intake") + "/v1/records", json=body)
            assert response.status_code == 422
        # a rejection counts in the week it happened in: two weeks, if a Friday cut-off fell just then
        weeks = {before, report_week_of(datetime.now(UTC), ZoneInfo("Asia/Shanghai"))}

        async def rejected() -> int:
            counted = 0
            for week in weeks:
                response = await client.get(
                    system.url("reporting") + "/v1/reports/weekly",
                    params={"street": XINSHI, "week": week},
                    headers={"authorization": f"Bearer {street_key}"},
                )
                assert response.status_code == 200, response.text
                counted += int(response.json()["figures"]["rejected_at_intake"])
            return counted

        assert await eventually(rejected) == 1
    topic = _topic(system, "records.rejected")

    async def published() -> list[dict[str, Any]]:
        # reporting counts the rejection from the first event: the relay may publish the second a moment later
        every = await kafka.read_all(system.env["KAFKA_BOOTSTRAP_SERVERS"], topic)
        found = [e for e in every if e["payload"]["reporting_street"] == XINSHI]
        return found if len(found) >= 2 else []

    events = await eventually(published)
    assert len(events) == 2
    assert len({e["event_id"] for e in events}) == 1  # both sends: one recognisable rejection
    event = events[0]
    assert event["payload"]["reporting_street"] == XINSHI
    assert event["payload"]["error_count"] == 2
    assert body["person"]["id_number"] not in str(event)


def _topic(system: System, name: str) -> str:
    return system.env["POPFLOW_TOPIC_PREFIX"] + name


async def test_popflow_demo_fills_a_running_system(system: System) -> None:
    key = await system.create_key("admin", label="demo")
    command = [sys.executable, "-c", "from services.cli import main; main()", "demo", "--count", "30", "--records-only"]
    command += ["--key", key, "--intake", system.url("intake")]
    result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "sent 30 demo records: 30 accepted" in result.stdout


def test_demo_says_cannot_reach_with_exit_3_when_intake_is_down() -> None:
    """docs/operations.md: every command that talks to a service prints `popflow: cannot reach ...` and exits 3;
    the demo's own exit 1 (a step failed) is for answers, not for a service that is not there."""
    nowhere = "http://127.0.0.1:1"
    command = [sys.executable, "-c", "from services.cli import main; main()", "demo", "--key", "pf_x_y"]
    command += ["--count", "3", "--records-only", "--intake", nowhere, "--notification", nowhere]
    command += ["--reporting", nowhere]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert "popflow: cannot reach http://127.0.0.1:1/v1/records/bulk" in done.stderr
    assert "Traceback" not in done.stderr
