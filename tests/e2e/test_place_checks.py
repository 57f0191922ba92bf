"""Issue 13 item 7: a place check finds the missed (补登遗漏), end to end.

All four services run as processes on the real Kafka and PostgreSQL. A
person recorded through intake and folded by reporting is found at the
market; a person PopFlow holds nothing of is missed: reporting enters them
through intake (source kind `spot_check`, under the bureau's key), routing
sends their record on as any other (here to the street they live in), and
the spot-check ranking counts the street's missed. Posting the check again
enters nobody twice.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.reporting.domain.weeks import report_week_of
from tests.support import personal_data
from tests.support.records import BAIYUN, FURONG, TONGDE, XINSHI, id_number, record
from tests.support.system import SERVICES, System, build_system, destroy_system
from tests.support.waiting import eventually

ZONE = ZoneInfo("Asia/Shanghai")
SEEN = datetime.now(UTC) - timedelta(hours=2)


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    running = await build_system(Path(tmp_path_factory.mktemp("logs")), {"POPFLOW_TIMEZONE": "Asia/Shanghai"})
    try:
        running.start_together(*SERVICES)
        yield running
    finally:
        await destroy_system(running)


def missed_person(sequence: int) -> dict[str, Any]:
    return {
        "person": {"id_number": id_number(sequence=sequence), "name": personal_data.used("赵六")},
        "residence": {"street": XINSHI, "address": "新市路 18 号 502"},
        "registration": {"division": FURONG, "address": "长沙市芙蓉区"},
        "marital_status": "married",
        "employer": {"name": "同德农贸市场"},
    }


def place_check(persons: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "place_check_id": str(uuid.uuid4()),
        "street": TONGDE,
        "place": {"kind": "market", "name": "同德农贸市场", "address": "同德路 1 号"},
        "checked_on": datetime.now(ZONE).date().isoformat(),
        "checker": "区局验收组",
        "persons": persons,
    }


async def test_a_place_check_enters_the_missed_person_who_is_routed_and_counted_against_the_street(
    system: System,
) -> None:
    bureau = {"Authorization": f"Bearer {await system.create_key(f'district:{BAIYUN}', role='bureau')}"}
    tongde = {"Authorization": f"Bearer {await system.create_key(f'street:{TONGDE}', role='office')}"}
    xinshi = {"Authorization": f"Bearer {await system.create_key(f'street:{XINSHI}', role='office')}"}
    submitter = {"Authorization": f"Bearer {await system.create_key(f'district:{BAIYUN}', role='submitter')}"}
    reporting = system.url("reporting")
    week = report_week_of(SEEN, ZONE)  # a record counts in the week it was seen: not now's, just after a cut-off
    recorded = record(sequence=501, observed_at=SEEN.isoformat(), name="钱七")
    async with httpx.AsyncClient(timeout=30) as client:
        posted = await client.post(system.url("intake") + "/v1/records", json=recorded, headers=tongde)
        assert posted.status_code == 202, posted.text
        recorded_id = posted.json()["record_id"]

        async def folded() -> bool:
            query = {"street": TONGDE, "week": week, "figure": "new_inflow"}
            items = await client.get(reporting + "/v1/reports/weekly/items", params=query, headers=bureau)
            return recorded_id in {item["id"] for item in items.json()["items"]}

        await eventually(folded)
        weeks = {"week_from": week, "week_to": report_week_of(datetime.now(UTC), ZONE)}
        sample = {"district": BAIYUN, "seed": "acceptance", "size_per_street": 0, **weeks}
        drawn = await client.post(reporting + "/v1/spotchecks", json=sample, headers=bureau)
        assert drawn.status_code == 201, drawn.text
        places = reporting + f"/v1/spotchecks/{drawn.json()['check_id']}/places"
        found_person = {"person": recorded["person"]}  # PopFlow holds them: no more than who they are
        check = place_check([found_person, missed_person(503)])

        for refused in (tongde, submitter):  # the bureau's check, not the street's own nor an integrator's
            assert (await client.post(places, json=check, headers=refused)).status_code == 403
        first = await client.post(places, json=check, headers=bureau)
        assert first.status_code == 201, first.text
        shown = first.json()
        assert (shown["found"], shown["missed"], shown["entered"]) == (1, 1, 1)
        assert shown["persons"][0] == {"position": 0, "outcome": "found", "record_id": recorded_id, "entered": False}
        missed_id = shown["persons"][1]["record_id"]
        again = await client.post(places, json=check, headers=bureau)
        assert (again.status_code, again.json()) == (200, shown)  # the same check: nobody entered twice

        entered = await client.get(system.url("intake") + f"/v1/records/{missed_id}", headers=bureau)
        assert entered.status_code == 200, entered.text
        body = entered.json()
        assert (body["record"]["source_kind"], body["record"]["reporting_street"]) == ("spot_check", TONGDE)
        entered_week = report_week_of(datetime.fromisoformat(body["record"]["observed_at"]), ZONE)

        async def noticed() -> bool:  # cross-street: the street the person lives in is told, as for any record
            inbox = await client.get(system.url("notification") + f"/v1/inbox/{XINSHI}", headers=xinshi)
            return missed_id in {n["record_id"] for n in inbox.json()["notices"]}

        await eventually(noticed)

        ranking = await client.get(places.removesuffix("/places") + "/discrepancies", headers=bureau)
        assert ranking.status_code == 200, ranking.text
        [street] = ranking.json()["streets"]
        assert (street["street"], street["persons"], street["missed"], street["rate"]) == (TONGDE, 2, 1, 0.5)
        assert (street["wrong"], street["not_found"]) == (0, 0)
        own = await client.get(places.removesuffix("/places") + "/discrepancies", headers=tongde)
        assert [s["street"] for s in own.json()["streets"]] == [TONGDE]  # a street office sees its own row
        other = await client.get(
            places.removesuffix("/places") + "/discrepancies", params={"street": TONGDE}, headers=xinshi
        )
        assert other.status_code == 403
        listing = await client.get(places, headers=tongde)
        assert [(p["place_check_id"], p["missed"]) for p in listing.json()["places"]] == [(check["place_check_id"], 1)]

        async def folded_missed() -> bool:
            query = {"street": TONGDE, "week": entered_week, "figure": "new_inflow"}
            items = await client.get(reporting + "/v1/reports/weekly/items", params=query, headers=bureau)
            return missed_id in {item["id"] for item in items.json()["items"]}

        await eventually(folded_missed)
        later = await client.post(places, json=place_check([missed_person(503)]), headers=bureau)
        assert later.status_code == 201, later.text
        assert (later.json()["found"], later.json()["missed"]) == (1, 0)  # entered once, found from then on
        text = first.text + again.text + listing.text + ranking.text
        for value in (recorded["person"]["id_number"], check["persons"][1]["person"]["id_number"], "赵六", "钱七"):
            assert value not in text
