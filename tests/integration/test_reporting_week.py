"""Reporting over a scripted week on real Kafka and PostgreSQL.

One harness (reporting in-process, its own topics and databases) for the
module; the tests run in order, as the week unfolds: the figures before the
cut-off, the scheduled export at the cut-off, sign-off, a late event, rebuild.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from services.reporting.adapters.export_record import ExportRecord
from services.reporting.adapters.tables import weekly_exports
from services.reporting.bootstrap import create_app
from services.reporting.domain.figures import FIGURES
from services.reporting.domain.sheets import SIGNOFF_LABELS, WEEKLY_HEADERS
from services.reporting.service_layer.scheduled import CutoffExporter
from services.reporting.settings import ReportingSettings
from shared.directory import load_directory
from tests.support import scripted_week as week
from tests.support.infra import create_database, drop_database, unique_name
from tests.support.records import TONGDE, WUSHAN, XINSHI
from tests.support.reporting import FakeClock, Harness, reporting_harness
from tests.support.waiting import eventually

W08, W09 = "2027-W08", "2027-W09"
SHANGHAI_0900 = datetime.fromisoformat("2027-02-26T09:00:00+08:00")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
async def harness(export_dir: Path) -> AsyncIterator[Harness]:
    async with reporting_harness(FakeClock(SHANGHAI_0900), export_dir=export_dir, district=week.BAIYUN) as running:
        bureau = await running.key("district:440111")
        campaign = await running.client.post(
            "/v1/campaigns",
            headers=bureau,
            json={
                "name": "2027年春季流动人口清查",
                "district": week.BAIYUN,
                "phases": [
                    {"name": "mobilisation", "starts_on": "2027-02-01", "ends_on": "2027-02-03"},
                    {"name": "canvass", "starts_on": "2027-02-04", "ends_on": "2027-03-10"},
                ],
                "target": {
                    "sexes": ["female"],
                    "min_age": 15,
                    "max_age": 49,
                    "marital_statuses": ["married"],
                    "arrived_from": "2027-01-01",
                },
            },
        )
        assert campaign.status_code == 201, campaign.text
        running.notes["campaign_id"] = campaign.json()["campaign_id"]
        await week.publish_week(running)
        yield running


async def weekly(harness: Harness, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await harness.get("/v1/reports/weekly", headers, **params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def folded(harness: Harness, headers: dict[str, str]) -> dict[str, Any]:
    """The district's W08 once every scripted event is in (the bureau's notice is among the last)."""

    async def probe() -> dict[str, Any] | None:
        report = await weekly(harness, headers, district=week.BAIYUN, week=W08)
        figures = report["figures"]
        done = figures["rejected_at_intake"] == 1 and figures["received_inter-district"] == 1
        done = done and report["routes"]["inter-district"] == 1 and figures["sent_cross-street"] == 2
        return report if done and report["records"] == 6 else None

    return await eventually(probe)  # type: ignore[no-any-return]


async def test_campaign_plan_and_key_areas(harness: Harness) -> None:
    street = await harness.key(f"street:{TONGDE}")
    campaign_id = harness.notes["campaign_id"]
    areas = await harness.client.post(
        f"/v1/campaigns/{campaign_id}/areas",
        headers=street,
        json={
            "street": TONGDE,
            "areas": [
                {"kind": "market", "name": "同德农贸市场", "address": "同德路 1 号", "planned_on": "2027-02-22"},
                {
                    "kind": "rental_housing",
                    "name": "鹅掌坦出租屋",
                    "address": "鹅掌坦 3 巷",
                    "planned_on": "2027-02-23",
                },
                {"kind": "enterprise", "name": "某制衣厂", "address": "西槎路 9 号", "planned_on": "2027-03-02"},
            ],
        },
    )
    assert areas.status_code == 201, areas.text
    first = areas.json()["area_ids"][0]
    done = await harness.client.post(
        f"/v1/campaigns/{campaign_id}/areas/{first}/canvassed", headers=street, json={"on": "2027-02-22"}
    )
    assert done.status_code == 200
    other = await harness.client.post(
        f"/v1/campaigns/{campaign_id}/areas",
        headers=await harness.key(f"street:{XINSHI}"),
        json={"street": TONGDE, "areas": [{"kind": "other", "name": "x", "address": "y", "planned_on": "2027-02-22"}]},
    )
    assert other.status_code == 403


async def test_campaign_result_per_street(harness: Harness) -> None:
    bureau = await harness.key("district:440111")
    campaign_id = harness.notes["campaign_id"]
    url = f"/v1/campaigns/{campaign_id}/results"
    no_reason = await harness.client.post(url, headers=bureau, json={"street": XINSHI, "decision": "recanvass"})
    assert no_reason.status_code == 422
    for outside in (WUSHAN, "440111999"):  # another district's street; no street at all
        elsewhere = await harness.client.post(url, headers=bureau, json={"street": outside, "decision": "accept"})
        assert elsewhere.status_code == 422
        assert elsewhere.json()["errors"][0]["pointer"] == "/street"
    for body in (
        {"street": TONGDE, "decision": "accept"},
        {"street": XINSHI, "decision": "recanvass", "comment": "抽查差错率超标"},
    ):
        assert (await harness.client.post(url, headers=bureau, json=body)).status_code == 200
    street = await harness.key(f"street:{TONGDE}")
    assert (
        await harness.client.post(url, headers=street, json={"street": TONGDE, "decision": "accept"})
    ).status_code == 403
    results = (await harness.get(url, bureau)).json()["results"]
    assert [(r["street"], r["decision"]) for r in results] == [(TONGDE, "accept"), (XINSHI, "recanvass")]


async def test_decisions_for_one_street_at_the_same_moment_all_succeed_and_one_stands(harness: Harness) -> None:
    bureau = await harness.key("district:440111")
    url = f"/v1/campaigns/{harness.notes['campaign_id']}/results"
    accept, recanvass = {"street": TONGDE, "decision": "accept"}, {"street": TONGDE, "decision": "recanvass"}
    bodies = [recanvass | {"comment": f"第 {n} 次"} if n % 2 else accept for n in range(8)]
    answers = await asyncio.gather(*(harness.client.post(url, headers=bureau, json=body) for body in bodies))
    assert [a.status_code for a in answers] == [200] * len(bodies)  # two at once once made one a 500
    results = (await harness.get(url, bureau)).json()["results"]
    assert [r["street"] for r in results] == [TONGDE, XINSHI]  # one row for the street, whichever came last
    again = await harness.client.post(url, headers=bureau, json={"street": TONGDE, "decision": "accept"})
    assert again.status_code == 200


async def test_weekly_figures_of_streets_and_district(harness: Harness) -> None:
    bureau = await harness.key("district:440111")
    district = await folded(harness, bureau)
    assert district["figures"] == week.BAIYUN_W08
    assert district["records"] == 6
    assert district["entry_delay"] == {"count": 6, "median_hours": 1.0, "p90_hours": 6.0}
    assert district["revision"] == {"revised": False, "revised_at": None}
    assert district["campaign"]["planned_areas"] == 2
    assert district["campaign"]["canvassed_areas"] == 1
    by_street = {s["code"]: s for s in district["streets"]}
    assert list(by_street) == load_directory().streets_of(week.BAIYUN)  # quiet streets too, with zeros
    assert all(s["records"] == 0 for code, s in by_street.items() if code not in (TONGDE, XINSHI))
    assert by_street[TONGDE]["figures"] == week.TONGDE_W08
    assert by_street[XINSHI]["figures"] == week.XINSHI_W08
    assert by_street[TONGDE]["name"] == "同德街道"

    tongde = await weekly(harness, await harness.key(f"street:{TONGDE}"), street=TONGDE, week=W08)
    assert tongde["figures"] == week.TONGDE_W08
    assert tongde["records"] == 5
    assert tongde["routes"] == {"same-district": 1, "cross-street": 1, "inter-district": 1}
    assert tongde["entry_delay"] == {"count": 5, "median_hours": 2.0, "p90_hours": 6.0}
    assert tongde["ends_at"] == "2027-02-26T10:00:00+08:00"


async def test_records_on_both_sides_of_the_cut_off(harness: Harness) -> None:
    bureau = await harness.key("district:440111")
    await folded(harness, bureau)
    w09 = await weekly(harness, bureau, street=TONGDE, week=W09)
    assert w09["figures"]["new_inflow"] == 1  # r6, observed at 10:00 sharp
    assert w09["figures"]["rejected_at_intake"] == 1  # rejected at 10:00:01
    items = await harness.get("/v1/reports/weekly/items", bureau, street=TONGDE, week=W08, figure="outflow")
    assert [i["id"] for i in items.json()["items"]] == [week.rid("r5")]  # observed 09:59
    w07 = await weekly(harness, bureau, street=XINSHI, week="2027-W07")
    assert w07["figures"]["verification"] == 1  # x2, observed 09:59 on the Friday W08 starts


async def test_every_count_opens_to_its_records(harness: Harness) -> None:
    bureau = await harness.key("district:440111")
    report = await folded(harness, bureau)
    for name, _ in FIGURES:
        response = await harness.get("/v1/reports/weekly/items", bureau, district=week.BAIYUN, week=W08, figure=name)
        assert response.status_code == 200, (name, response.text)
        assert response.json()["count"] == report["figures"][name], name
    target = await harness.get(
        "/v1/reports/weekly/items", bureau, district=week.BAIYUN, week=W08, figure="target_population"
    )
    assert [i["id"] for i in target.json()["items"]] == [week.rid("r1")]
    unanswered = await harness.get(
        "/v1/reports/weekly/items", bureau, district=week.BAIYUN, week=W08, figure="unanswered_over_7_days"
    )
    assert unanswered.json()["items"] == [{"id": week.rid("x0"), "street": XINSHI, "community": None}]
    bad = await harness.get("/v1/reports/weekly/items", bureau, district=week.BAIYUN, week=W08, figure="fines")
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_quality_per_street(harness: Harness) -> None:
    bureau = await harness.key("district:440111")
    await folded(harness, bureau)
    response = await harness.get("/v1/reports/quality", bureau, district=week.BAIYUN, week=W08)
    tongde = {s["street"]: s for s in response.json()["streets"]}[TONGDE]
    assert tongde["records"] == 5
    assert tongde["missing_optional"]["count"] == 4  # only r1 has every optional field
    assert tongde["missing_optional"]["share"] == 0.8
    assert tongde["certificates_expiring_30_days"] == 1  # r1, valid until 2027-03-10
    assert tongde["persons_seen_more_than_once"] == {"count": 1, "share": 0.25}
    assert tongde["notices_answered_within_target"] == {"count": 1, "due": 1, "share": 1.0}


async def test_access_by_scope(harness: Harness) -> None:
    tongde = await harness.key(f"street:{TONGDE}")
    other = await harness.key("district:440106")
    assert (await harness.get("/v1/reports/weekly", tongde, street=XINSHI, week=W08)).status_code == 403
    assert (await harness.get("/v1/reports/weekly", tongde, district=week.BAIYUN, week=W08)).status_code == 403
    assert (await harness.get("/v1/reports/weekly", other, district=week.BAIYUN, week=W08)).status_code == 403
    assert (await harness.get("/v1/reports/weekly", {}, street=TONGDE, week=W08)).status_code == 401
    bad_week = await harness.get("/v1/reports/weekly", tongde, street=TONGDE, week="2027-W60")
    assert bad_week.status_code == 422
    both = await harness.get("/v1/reports/weekly", tongde, street=TONGDE, district=week.BAIYUN, week=W08)
    assert both.status_code == 422


async def test_street_submits_before_the_cut_off(harness: Harness) -> None:
    tongde = await harness.key(f"street:{TONGDE}")
    bureau = await harness.key("district:440111")
    assert (
        await harness.client.post("/v1/reports/weekly/submit", headers=bureau, json={"street": TONGDE, "week": W08})
    ).status_code == 403
    submitted = await harness.client.post(
        "/v1/reports/weekly/submit", headers=tongde, json={"street": TONGDE, "week": W08}
    )
    assert submitted.json()["state"] == "submitted"
    review = await harness.client.post(
        "/v1/reports/weekly/review", headers=bureau, json={"street": XINSHI, "week": W08, "decision": "accept"}
    )
    assert review.status_code == 409  # 新市 has not submitted
    # the English detail for people, the reason's code for programs (the street office page's words)
    assert review.json()["type"] == "https://popflow.example/problems/signoff-refused"
    assert review.json()["reason"] == "not_submitted"
    assert review.json()["detail"] == "only a submitted report can be reviewed; this one is not submitted"
    # the week after has not begun: its report would hold nothing, and count as on time
    early = await harness.client.post(
        "/v1/reports/weekly/submit", headers=tongde, json={"street": TONGDE, "week": "2027-W09"}
    )
    assert early.status_code == 409, early.text
    assert early.headers["content-type"] == "application/problem+json"
    assert "has not begun" in early.json()["detail"]
    assert early.json()["reason"] == "week_not_begun"


async def test_two_clerks_deciding_one_week_at_once_get_one_decision_and_one_409(harness: Harness) -> None:
    tongde = await harness.key(f"street:{TONGDE}")
    bureau = await harness.key("district:440111")
    week_before = "2027-W07"
    submitted = await harness.client.post(
        "/v1/reports/weekly/submit", headers=tongde, json={"street": TONGDE, "week": week_before}
    )
    assert submitted.status_code == 200, submitted.text
    decisions = [
        {"street": TONGDE, "week": week_before, "decision": "accept"},
        {"street": TONGDE, "week": week_before, "decision": "return", "comment": "差错率超标"},
    ] * 3
    answers = await asyncio.gather(
        *(harness.client.post("/v1/reports/weekly/review", headers=bureau, json=body) for body in decisions)
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409, 409, 409]  # never two that both stand
    [decided] = [a.json() for a in answers if a.status_code == 200]
    # the losers raced it (stored at the same moment) or came after it, each saying which
    after = "already_accepted" if decided["state"] == "accepted" else "already_returned"
    assert {a.json()["reason"] for a in answers if a.status_code == 409} <= {"changed_meanwhile", after}
    again = await harness.client.post(
        "/v1/reports/weekly/submit", headers=tongde, json={"street": TONGDE, "week": week_before}
    )
    # the one decision that stood is the week's state: returned may be submitted again, accepted is locked
    assert again.status_code == (200 if decided["state"] == "returned" else 409), again.text


async def test_scheduled_export_at_the_cut_off_reads_back_equal(harness: Harness, export_dir: Path) -> None:
    bureau = await harness.key("district:440111")
    await folded(harness, bureau)
    harness.clock.set(datetime.fromisoformat("2027-02-26T10:00:00+08:00"))
    path = export_dir / W08 / f"{W08}-{TONGDE}.xlsx"
    streets = load_directory().streets_of(week.BAIYUN)  # every street of 白云区, quiet ones too
    files = await eventually(lambda: _exported(export_dir / W08, len(streets)))
    assert [file.name for file in files] == [f"{W08}-{street}.xlsx" for street in streets]
    shown = (await harness.client.get("/readyz")).json()["weekly_export"]
    assert shown == {"failures_total": 0, "unwritten_weeks": [], "last_error": None}
    report = await weekly(harness, bureau, street=TONGDE, week=W08)
    assert _sheet_rows(path.read_bytes()) == [_expected_row(report)]

    district = await weekly(harness, bureau, district=week.BAIYUN, week=W08)
    response = await harness.get("/v1/reports/weekly.xlsx", bureau, district=week.BAIYUN, week=W08)
    rows = _sheet_rows(response.content)
    assert rows == [*[_expected_row(s) for s in district["streets"]], _expected_row(district, name="合计")]
    book = load_workbook(io.BytesIO(response.content))
    assert book.active["A1"].value == "流动人口个案信息周报表（表二）"
    assert book.active["A2"].value == "区：白云区（440111）"
    assert book.active["A3"].value == "报告周：2027-W08（2027-02-19 10:00 至 2027-02-26 10:00）"
    csv = await harness.get("/v1/reports/weekly.csv", bureau, street=TONGDE, week=W08)
    assert "新流入" in csv.content.decode("utf-8-sig").splitlines()[3]


async def test_accepted_week_is_locked_and_a_late_event_revises_it(harness: Harness) -> None:
    tongde = await harness.key(f"street:{TONGDE}")
    bureau = await harness.key("district:440111")
    harness.clock.set(datetime.fromisoformat("2027-02-26T10:30:00+08:00"))
    accepted = await harness.client.post(
        "/v1/reports/weekly/review", headers=bureau, json={"street": TONGDE, "week": W08, "decision": "accept"}
    )
    assert accepted.json()["state"] == "accepted"
    again = await harness.client.post("/v1/reports/weekly/submit", headers=tongde, json={"street": TONGDE, "week": W08})
    assert again.status_code == 409

    await harness.publish("records.submitted", "RecordSubmitted", week.LATE)
    duplicate = week.RECORDS[0]
    await harness.publish("records.submitted", "RecordSubmitted", duplicate, strict=False)  # a re-delivery
    await harness.publish_raw("records.submitted", b"not an envelope")

    async def revised() -> dict[str, Any] | None:
        # the late record and the re-delivery travel on different partitions: wait for the late one's count
        report = await weekly(harness, tongde, street=TONGDE, week=W08)
        return report if report["revision"]["revised"] and report["figures"]["verification"] == 2 else None

    report = await eventually(revised)
    assert report["revision"]["revised_at"] == "2027-02-26T03:00:00+00:00"  # r7 received 11:00 Shanghai
    assert report["figures"]["verification"] == 2
    assert report["figures"]["new_inflow"] == 2  # the duplicate changed nothing
    assert report["signoff"]["state"] == "accepted"
    assert report["signoff"]["locked"] is True
    assert report["signoff"]["on_time"] is True
    assert report["signoff"]["after_signoff"] == [week.rid("r7")]
    district = await weekly(harness, bureau, district=week.BAIYUN, week=W08)
    streets = len(load_directory().streets_of(week.BAIYUN))
    assert district["on_time_rate"] == round(1 / streets, 4)  # 同德 on time; 新市 and the quiet streets never submitted


async def test_a_replica_taking_over_after_the_cut_off_writes_the_week_as_it_stood_at_the_cut_off(
    harness: Harness, export_dir: Path
) -> None:
    """The leader died while writing W08 at the cut-off: 同德's file never came, 新市's is half-written, and
    W08 was never recorded as written. The job of the replica that leads next writes W08 at once, as the
    on-time export would have: without r7, which came in at 11:00, after the cut-off."""
    bureau = await harness.key("district:440111")
    await eventually(lambda: _has_late_record(harness, bureau))  # r7 is counted in W08 by now
    folder = export_dir / W08
    on_time = {path.name: _sheet_rows(path.read_bytes()) for path in folder.glob("*.xlsx")}
    service = harness.reporting.service
    async with service.weekly_store.engine.begin() as connection:
        recorded = await connection.execute(sa.select(weekly_exports.c.district).where(weekly_exports.c.week == W08))
        assert [district for (district,) in recorded] == [week.BAIYUN]
        await connection.execute(sa.delete(weekly_exports).where(weekly_exports.c.week == W08))
    (folder / f"{W08}-{TONGDE}.xlsx").unlink()
    (folder / f"{W08}-{XINSHI}.xlsx").write_bytes(b"PK\x03\x04 cut short")
    harness.clock.set(datetime.fromisoformat("2027-02-26T11:30:00+08:00"))

    record = ExportRecord(service.weekly_store.engine)
    replica = CutoffExporter(service, folder=export_dir, districts=[week.BAIYUN], clock=harness.clock, written=record)
    written = await replica.catch_up()
    assert sorted(path.name for path in written) == sorted(on_time)
    # the same rows: r7 is not counted (nor marked as a revision), and 同德 stands 已上报 as at 10:00, not accepted
    assert {path.name: _sheet_rows(path.read_bytes()) for path in folder.glob("*.xlsx")} == on_time
    assert not list(folder.glob(".*"))  # no file left half written
    assert await record.written([week.BAIYUN]) == {week.BAIYUN: {"2027-W07", W08}}  # W07: the start at 09:00
    assert await replica.catch_up() == []


async def test_rebuild_gives_identical_reports(harness: Harness) -> None:
    bureau = await harness.key("district:440111")
    live = harness.reporting.service
    await eventually(lambda: _has_late_record(harness, bureau))
    name = unique_name("rebuilt")
    url = await create_database(name)
    try:
        # the harness's fold is a member of reporting's group: what it folded after the replay's end would
        # be committed past and never reach the new store
        running = await _popflow("reporting", "rebuild", "--into", url, settings=harness.settings, expect=2)
        group = f"{harness.settings.topic_prefix}reporting"
        assert f"stop the reporting service (1 member in group {group})" in running
        assert "point REPORTING_DATABASE_URL at the new store" in running
        await _stop_fold(harness)
        output = await _popflow("reporting", "rebuild", "--into", url, settings=harness.settings)
        assert "events folded into the new store" in output
        rebuilt = create_app(harness.settings.model_copy(update={"database_url": url}), clock=harness.clock)
        service = rebuilt.state.reporting.service
        for code in (week.BAIYUN, TONGDE, XINSHI):
            for name_ in ("2027-W07", W08, W09):
                assert _json(await service.weekly(code, name_)) == _json(await live.weekly(code, name_))
                assert _json(await service.quality(code, name_)) == _json(await live.quality(code, name_))
        assert _json(await service.items(week.BAIYUN, W08, "new_inflow")) == _json(
            await live.items(week.BAIYUN, W08, "new_inflow")
        )
        await service.weekly_store.engine.dispose()
        again = await _popflow("reporting", "rebuild", "--into", url, settings=harness.settings, expect=2)
        assert "refused: the target store holds facts or decisions already" in again
    finally:
        await drop_database(name)


async def test_spot_check_sample_is_reproducible_from_its_seed(harness: Harness) -> None:
    bureau = await harness.key("district:440111")
    draw = {
        "district": week.BAIYUN,
        "seed": "2027-spring",
        "size_per_street": 3,
        "week_from": "2027-W07",
        "week_to": W09,
    }
    first = await harness.client.post("/v1/spotchecks", headers=bureau, json=draw)
    second = await harness.client.post("/v1/spotchecks", headers=bureau, json=draw)
    assert first.status_code == 201, first.text
    assert first.json()["sample"] == second.json()["sample"]
    sample = first.json()["sample"]
    assert {street: len(ids) for street, ids in sample.items()} == {TONGDE: 3, XINSHI: 2}
    check_id = first.json()["check_id"]
    for record_id in sample[TONGDE]:
        result = {"record_id": record_id, "result": "wrong", "note": "地址不符"}
        posted = await harness.client.post(f"/v1/spotchecks/{check_id}/results", headers=bureau, json=result)
        assert posted.status_code == 200
    for record_id in sample[XINSHI]:
        await harness.client.post(
            f"/v1/spotchecks/{check_id}/results", headers=bureau, json={"record_id": record_id, "result": "correct"}
        )
    # a control character is refused at the door: stored, it broke the list's XLSX for good
    typed = {"record_id": sample[TONGDE][0], "result": "wrong", "note": "地址不符\u000b门牌 3 号"}
    refused = await harness.client.post(f"/v1/spotchecks/{check_id}/results", headers=bureau, json=typed)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "note" in refused.text
    ranking = (await harness.get(f"/v1/spotchecks/{check_id}/discrepancies", bureau)).json()["streets"]
    assert [(r["street"], r["rate"], r["flagged"]) for r in ranking] == [(TONGDE, 1.0, True), (XINSHI, 0.0, False)]
    listing = await harness.get(f"/v1/spotchecks/{check_id}/list.xlsx", bureau)
    rows = _sheet_rows(listing.content, headers=("序号", "街道代码"))
    assert [row[3] for row in rows] == sample[TONGDE] + sample[XINSHI]
    assert {row[4] for row in rows} == {"有误", "属实"}


async def _stop_fold(harness: Harness) -> None:
    """Stop the harness's fold as stopping the service would: its consumer leaves the group."""
    fold = harness.app.state.runtime.background.tasks["fold"]
    fold.cancel()
    await asyncio.gather(fold, return_exceptions=True)


async def _popflow(*args: str, settings: ReportingSettings, expect: int = 0) -> str:
    """Run the `popflow` command as an operator would, against the harness's topics and store."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "POPFLOW_TOPIC_PREFIX": settings.topic_prefix,
        "POPFLOW_PERSON_KEY_SECRET": settings.person_key_secret.get_secret_value(),
        "POPFLOW_DATA_KEYS": settings.data_keys.get_secret_value(),
        "REPORTING_DATABASE_URL": settings.database_url,
        "POPFLOW_LOG_LEVEL": "WARNING",
    }
    popflow = Path(sys.executable).parent / "popflow"
    process = await asyncio.create_subprocess_exec(
        str(popflow), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == expect, output.decode(errors="replace")[-3000:]
    return output.decode(errors="replace")


async def _has_late_record(harness: Harness, headers: dict[str, str]) -> bool:
    report = await weekly(harness, headers, street=TONGDE, week=W08)
    return bool(report["revision"]["revised"])


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


async def _exported(folder: Path, expected: int) -> list[Path]:
    files = await asyncio.to_thread(lambda: sorted(folder.glob("*.xlsx")) if folder.exists() else [])
    return files if len(files) >= expected else []


def _sheet_rows(content: bytes, headers: tuple[str, ...] = WEEKLY_HEADERS[:2]) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    start = next(i for i, row in enumerate(rows) if tuple(row[: len(headers)]) == headers)
    return rows[start + 1 :]


def _expected_row(report: dict[str, Any], name: str | None = None) -> list[Any]:
    revision, signoff = report["revision"], report.get("signoff")
    return [
        report["code"],
        name or report["name"],
        *(report["figures"][key] for key, _ in FIGURES),
        report["entry_delay"]["median_hours"],
        report["entry_delay"]["p90_hours"],
        SIGNOFF_LABELS[signoff["state"]] if signoff else None,
        f"是（{revision['revised_at'][:16].replace('T', ' ')} UTC）" if revision["revised"] else "否",
    ]
