"""Issue 13 item 8: areas with a responsible worker (分片包干), on real Kafka and PostgreSQL.

A campaign starting Monday 2027-02-01 (key-area lists due Wednesday the 3rd).
Tongde lists its key areas on the 2nd, Xinshi uploads its list as XLSX on the
6th, the other streets of Baiyun send none. Tongde keeps its register of
workers and communities (a CSV sheet); then the scripted week 2027-W08 and a
few records naming communities arrive through the topics, and the week is
cut by community and by worker. The tests run in order, as the weeks unfold.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
import structlog
from openpyxl import Workbook, load_workbook

from services.reporting.domain.figures import FIGURE_NAMES
from shared.auth import parse_scope
from shared.auth.scopes import Role
from tests.support import personal_data
from tests.support import scripted_week as week
from tests.support.bulk_files import broken_sheet, last_row_first
from tests.support.records import TONGDE, WUSHAN, XINSHI
from tests.support.reporting import FakeClock, Harness, reporting_harness
from tests.support.waiting import eventually

W08 = "2027-W08"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LI, WANG, ZHAO = (personal_data.used(name) for name in ("李责任", "王责任", "赵责任"))
CAMPAIGN = {
    "name": "2027年春季流动人口清查",
    "district": week.BAIYUN,
    "phases": [
        {"name": "mobilisation", "starts_on": "2027-02-01", "ends_on": "2027-02-03"},
        {"name": "canvass", "starts_on": "2027-02-04", "ends_on": "2027-03-10"},
    ],
    "target": {"sexes": ["female"], "min_age": 15, "max_age": 49, "marital_statuses": ["married"]},
}
COMMUNITY_SHEET = (
    "同德街道社区责任人登记表\r\n"
    "社区代码,社区名称,责任人工号,责任人\r\n"
    f"{TONGDE}001,同德社区,T01,{LI}\r\n"
    f"{TONGDE}002,鹅掌坦社区,T01,\r\n"
    f"{TONGDE}003,西槎社区,,\r\n"
)
COMMUNITY_RECORDS = [
    week.submitted(
        "a1",
        street=TONGDE,
        event="new_inflow",
        observed="2027-02-21T10:00:00",
        received="2027-02-21T11:00:00",
        person=51,
        optional={"community": f"{TONGDE}002"},
    ),
    week.submitted(
        "a2",
        street=TONGDE,
        event="verification",
        observed="2027-02-22T10:00:00",
        received="2027-02-22T11:00:00",
        person=53,
        optional={"community": f"{TONGDE}003"},
    ),
]


def local(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


@pytest.fixture(scope="module")
async def harness() -> AsyncIterator[Harness]:
    async with reporting_harness(FakeClock(local("2027-02-01T09:00:00")), district=week.BAIYUN) as running:
        bureau = await running.key(f"district:{week.BAIYUN}")
        created = await running.client.post("/v1/campaigns", headers=bureau, json=CAMPAIGN)
        assert created.status_code == 201, created.text
        running.notes["campaign_id"] = created.json()["campaign_id"]
        yield running


async def keys(harness: Harness) -> dict[str, dict[str, str]]:
    async def submitter() -> dict[str, str]:
        _, key = await harness.keys.create(parse_scope(f"street:{TONGDE}"), role=Role.SUBMITTER, label="test")
        return {"authorization": f"Bearer {key}"}

    return {
        "tongde": await harness.key(f"street:{TONGDE}"),
        "xinshi": await harness.key(f"street:{XINSHI}"),
        "bureau": await harness.key(f"district:{week.BAIYUN}"),
        "tianhe": await harness.key(f"district:{WUSHAN[:6]}"),
        "submitter": await submitter(),
    }


def workbook(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def test_the_register_of_workers_and_communities(harness: Harness) -> None:
    k = await keys(harness)
    with structlog.testing.capture_logs() as logs:
        registered = await harness.client.post(
            "/v1/workers", headers=k["tongde"], json={"street": TONGDE, "workers": [{"staff_id": "T02", "name": WANG}]}
        )
        assert registered.status_code == 200, registered.text
        sheet = await harness.client.post(
            "/v1/communities/sheet",
            params={"street": TONGDE},
            headers=k["tongde"] | {"content-type": "text/csv"},
            content=COMMUNITY_SHEET.encode("gb18030"),  # as Excel on a Chinese Windows saves it
        )
        assert sheet.status_code == 200, sheet.text
        # the bureau keeps a register for a street of its district
        by_bureau = await harness.client.post(
            "/v1/workers", headers=k["bureau"], json={"street": XINSHI, "workers": [{"staff_id": "X01", "name": ZHAO}]}
        )
        assert by_bureau.status_code == 200
    assert not [line for line in logs if any(name in str(line) for name in (LI, WANG, ZHAO))]
    assert sheet.json()["communities"] == [f"{TONGDE}001", f"{TONGDE}002", f"{TONGDE}003"]
    listed = (await harness.get("/v1/workers", k["tongde"], street=TONGDE)).json()["workers"]
    assert [(w["staff_id"], w["name"], w["communities"]) for w in listed] == [
        ("T01", LI, [f"{TONGDE}001", f"{TONGDE}002"]),
        ("T02", WANG, []),
    ]
    communities = (await harness.get("/v1/communities", k["bureau"], district=week.BAIYUN)).json()
    assert communities["unassigned"] == [f"{TONGDE}003"]
    assert [c["worker"]["staff_id"] if c["worker"] else None for c in communities["communities"]] == [
        "T01",
        "T01",
        None,
    ]


async def test_who_may_keep_and_read_the_register(harness: Harness) -> None:
    k = await keys(harness)
    body = {"street": TONGDE, "workers": [{"staff_id": "T09", "name": WANG}]}
    communities = {"street": TONGDE, "communities": [{"code": f"{TONGDE}009"}]}
    for caller, status in (("xinshi", 403), ("tianhe", 403), ("submitter", 403)):
        assert (await harness.client.post("/v1/workers", headers=k[caller], json=body)).status_code == status, caller
        refused = await harness.client.post("/v1/communities", headers=k[caller], json=communities)
        assert refused.status_code == status, caller
        for path in ("/v1/workers", "/v1/communities"):
            assert (await harness.get(path, k[caller], street=TONGDE)).status_code == status, (caller, path)
    assert (await harness.get("/v1/workers", k["tongde"], district=week.BAIYUN)).status_code == 403
    assert (await harness.get("/v1/workers", {}, street=TONGDE)).status_code == 401
    # an office reads its own street only: the names of Xinshi's workers are not Tongde's to see
    assert (await harness.get("/v1/workers", k["tongde"], street=XINSHI)).status_code == 403


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"street": TONGDE, "workers": [{"staff_id": "T03", "name": "长" * 51}]}, "/workers/0/name"),
        ({"street": TONGDE, "workers": [{"staff_id": "T03", "name": "李\n四"}]}, "/workers/0/name"),
        ({"street": TONGDE, "workers": [{"staff_id": "T 03", "name": "李四"}]}, "/workers/0/staff_id"),
        ({"street": TONGDE, "workers": []}, "/workers"),
        ({"street": "440111999", "workers": [{"staff_id": "T03", "name": "李四"}]}, "/street"),
    ],
)
async def test_a_bad_worker_is_a_problem_that_quotes_no_name(
    harness: Harness, body: dict[str, Any], pointer: str
) -> None:
    response = await harness.client.post("/v1/workers", headers=await harness.key("admin"), json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert pointer in [e["pointer"] for e in response.json()["errors"]]
    assert "长长" not in response.text
    assert "李" not in response.text


async def test_bad_communities_and_sheets_are_problems(harness: Harness) -> None:
    tongde = (await keys(harness))["tongde"]
    wrong = await harness.client.post(
        "/v1/communities",
        headers=tongde,
        json={"street": TONGDE, "communities": [{"code": f"{XINSHI}001"}, {"code": f"{TONGDE}004", "staff_id": "T77"}]},
    )
    assert wrong.status_code == 422
    assert [e["pointer"] for e in wrong.json()["errors"]] == ["/communities/0/code", "/communities/1/staff_id"]
    url, params = "/v1/communities/sheet", {"street": TONGDE}
    cases = [
        ({"content-type": "application/json"}, b"[]", 415),
        ({"content-type": XLSX}, b"PK\x03\x04 not a workbook", 400),
        ({"content-type": "text/csv"}, "名称\r\n同德\r\n".encode(), 400),
        ({"content-type": "text/csv"}, b"x" * (3 << 20), 413),
        ({"content-type": "text/csv"}, f"社区代码,责任人\r\n{TONGDE}5,{LI}{LI}\r\n".encode(), 422),
    ]
    for headers, content, status in cases:
        response = await harness.client.post(url, params=params, headers=tongde | headers, content=content)
        assert response.status_code == status, (status, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert LI not in response.text
    line = await harness.client.post(
        url, params=params, headers=tongde | {"content-type": "text/csv"}, content=f"社区代码\r\n{TONGDE}5\r\n".encode()
    )
    assert [e["pointer"] for e in line.json()["errors"]] == ["/lines/2/code"]  # the line of the file
    # rows out of order, which openpyxl's reader dropped: the whole register refused, naming rows only
    rows = [["社区代码", "责任人"], *([f"{TONGDE}00{n}", LI] for n in (1, 2, 3))]
    backwards = broken_sheet(workbook(rows), last_row_first)
    refused = await harness.client.post(url, params=params, headers=tongde | {"content-type": XLSX}, content=backwards)
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["detail"].startswith("row 2 comes after row 4: the sheet's rows are out of order")
    assert LI not in refused.text
    assert TONGDE not in refused.text


async def test_key_area_lists_with_their_workers_on_time_and_late(harness: Harness) -> None:
    k, campaign_id = await keys(harness), harness.notes["campaign_id"]
    harness.clock.set(local("2027-02-02T10:00:00"))
    areas = [
        {
            "kind": "market",
            "name": "同德农贸市场",
            "address": "同德路 1 号",
            "planned_on": "2027-02-22",
            "staff_id": "T01",
        },
        {"kind": "rental_housing", "name": "鹅掌坦出租屋", "address": "鹅掌坦 3 巷", "planned_on": "2027-02-23"},
    ]
    listed = await harness.client.post(
        f"/v1/campaigns/{campaign_id}/areas", headers=k["tongde"], json={"street": TONGDE, "areas": areas}
    )
    assert listed.status_code == 201, listed.text
    unknown = {"street": TONGDE, "areas": [{**areas[0], "staff_id": "T77"}]}
    refused = await harness.client.post(f"/v1/campaigns/{campaign_id}/areas", headers=k["tongde"], json=unknown)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/areas/0/staff_id"

    harness.clock.set(local("2027-02-06T16:00:00"))  # three days after the due date
    sheet = workbook(
        [
            ["新市街道重点区域清单"],
            ["类型", "名称", "地址", "计划清查日期", "责任人工号"],
            ["出租屋", "新市出租屋片区", "新市路 2 号", datetime(2027, 2, 24), "X01"],
            ["企业", "新市工业园", "新市路 9 号", "2027-02-25", None],
        ]
    )
    upload = await harness.client.post(
        f"/v1/campaigns/{campaign_id}/areas/sheet",
        params={"street": XINSHI},
        headers=k["xinshi"] | {"content-type": XLSX},
        content=sheet,
    )
    assert upload.status_code == 201, upload.text
    other = await harness.client.post(
        f"/v1/campaigns/{campaign_id}/areas/sheet",
        params={"street": TONGDE},
        headers=k["xinshi"] | {"content-type": XLSX},
        content=sheet,
    )
    assert other.status_code == 403

    second = listed.json()["area_ids"][1]
    worker_url = f"/v1/campaigns/{campaign_id}/areas/{second}/worker"
    assert (await harness.client.put(worker_url, headers=k["xinshi"], json={"staff_id": "T02"})).status_code == 403
    assert (await harness.client.put(worker_url, headers=k["tongde"], json={"staff_id": "X01"})).status_code == 422
    assert (await harness.client.put(worker_url, headers=k["tongde"], json={"staff_id": "T02"})).status_code == 200

    harness.clock.set(local("2027-02-26T09:00:00"))
    shown = (await harness.get(f"/v1/campaigns/{campaign_id}/areas", k["tongde"], street=TONGDE)).json()["areas"]
    assert [(a["name"], a["worker"]["name"] if a["worker"] else None) for a in shown] == [
        ("同德农贸市场", LI),
        ("鹅掌坦出租屋", WANG),
    ]
    xinshi = (await harness.get(f"/v1/campaigns/{campaign_id}/areas", k["bureau"], street=XINSHI)).json()["areas"]
    assert [(a["planned_on"], a["staff_id"]) for a in xinshi] == [("2027-02-24", "X01"), ("2027-02-25", None)]

    view = (await harness.get(f"/v1/campaigns/{campaign_id}", k["bureau"])).json()["key_area_lists"]
    assert view["due_on"] == "2027-02-03"
    states = {s["street"]: (s["state"], s["listed_on"], s["days_late"]) for s in view["streets"]}
    assert states[TONGDE] == ("on_time", "2027-02-02", 0)
    assert states[XINSHI] == ("late", "2027-02-06", 3)
    missing = [street for street, (state, _, _) in states.items() if state == "missing"]
    assert len(missing) == len(states) - 2
    assert states[missing[0]][2] == 23  # 2027-02-26 is 23 days after the due date
    assert XINSHI in view["overdue"]
    assert TONGDE not in view["overdue"]
    own = (await harness.get(f"/v1/campaigns/{campaign_id}", k["xinshi"])).json()["key_area_lists"]
    assert [s["street"] for s in own["streets"]] == [XINSHI]  # an office sees its own street's list


async def test_the_week_cut_by_worker_and_by_community(harness: Harness) -> None:
    k = await keys(harness)
    await week.publish_week(harness)
    for payload in COMMUNITY_RECORDS:
        await harness.publish("records.submitted", "RecordSubmitted", payload, strict=False)

    async def folded() -> dict[str, Any] | None:
        report = (await harness.get("/v1/reports/weekly", k["bureau"], district=week.BAIYUN, week=W08)).json()
        done = report["records"] == 8 and report["figures"]["received_inter-district"] == 1
        return report if done and report["figures"]["rejected_at_intake"] == 1 else None

    district = await eventually(folded)
    tongde = (await harness.get("/v1/reports/weekly", k["tongde"], street=TONGDE, week=W08, by="worker")).json()
    groups = {(g["kind"], (g.get("worker") or {}).get("staff_id")): g for g in tongde["cut"]["groups"]}
    assert groups[("worker", "T01")]["worker"]["name"] == LI
    assert groups[("worker", "T01")]["records"] == 2  # r1 in 001, a1 in 002
    assert groups[("worker", "T02")]["records"] == 0  # Wang answers for a key area, no community
    assert groups[("unassigned", None)]["figures"]["verification"] == 1  # a2 in 003
    assert tongde["cut"]["unassigned_communities"] == [f"{TONGDE}003"]
    for figure in FIGURE_NAMES:
        assert sum(g["figures"][figure] for g in tongde["cut"]["groups"]) == tongde["figures"][figure], figure

    by_community = await harness.get("/v1/reports/weekly", k["bureau"], district=week.BAIYUN, week=W08, by="community")
    cut = by_community.json()["cut"]
    assert sum(g["records"] for g in cut["groups"]) == district["records"]
    assert [g["community"] for g in cut["groups"] if g["kind"] == "community"] == [
        f"{TONGDE}001",
        f"{TONGDE}002",
        f"{TONGDE}003",
    ]
    bad = await harness.get("/v1/reports/weekly", k["tongde"], street=TONGDE, week=W08, by="street")
    assert bad.status_code == 422

    items = await harness.get(
        "/v1/reports/weekly/items", k["tongde"], street=TONGDE, week=W08, figure="new_inflow", by="worker"
    )
    assert [(g["kind"], g["count"]) for g in items.json()["groups"]] == [("worker", 2), ("no_community", 1)]
    assert sorted(items.json()["groups"][0]["ids"]) == sorted([week.rid("r1"), week.rid("a1")])


async def test_the_cut_as_a_sheet_and_the_bureaus_dashboard(harness: Harness) -> None:
    k = await keys(harness)
    response = await harness.get("/v1/reports/weekly.xlsx", k["tongde"], street=TONGDE, week=W08, by="worker")
    assert response.status_code == 200
    assert f"{W08}-{TONGDE}-by-worker.xlsx" in response.headers["content-disposition"]
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    header = rows.index(next(r for r in rows if r[0] == "责任人工号"))
    assert rows[0][0] == "流动人口个案信息周报表（表二）按责任人"
    assert rows[header + 1][:5] == ("T01", LI, TONGDE, f"{TONGDE}001、{TONGDE}002", 2)
    assert rows[-1][0] == "合计"
    csv = await harness.get("/v1/reports/weekly.csv", k["bureau"], district=week.BAIYUN, week=W08, by="community")
    assert csv.status_code == 200
    assert "（无责任人）" in csv.content.decode("utf-8-sig")

    page = await harness.get("/dashboard", k["bureau"], district=week.BAIYUN, week=W08)
    assert page.status_code == 200
    assert "重点区域清单报送（截止 2027-02-03" in page.text
    assert f'data-street="{XINSHI}" data-state="late"' in page.text
    assert f'data-street="{TONGDE}" data-state' not in page.text  # on time: not chased
