"""Issue 13 item 8, the pure rules: key-area lists due on the campaign's third day, late or missing,
and the weekly figures and item lists cut by community and by responsible worker (分片包干)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.reporting.domain.cuts import RECORDS, item_groups, weekly_cut
from services.reporting.domain.figures import FIGURE_NAMES
from services.reporting.domain.key_area_lists import ListState, list_due_on, list_status, overdue
from services.reporting.domain.registers import AREA_COLUMNS, COMMUNITY_COLUMNS, line_fields
from services.reporting.domain.responsibility import (
    Community,
    Cut,
    GroupKind,
    Register,
    Worker,
    community_in_street,
)
from services.reporting.domain.sheets import cut_sheet
from tests.support.records import TONGDE, XINSHI

SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE = date(2027, 2, 3)  # a campaign starting 2027-02-01 (Monday)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_the_key_area_list_is_due_on_the_campaigns_third_day() -> None:
    assert list_due_on(date(2027, 2, 1)) == DUE
    assert list_due_on(date(2027, 2, 27)) == date(2027, 3, 1)  # across the end of February


@pytest.mark.parametrize(
    ("listed_at", "now", "state", "days_late"),
    [
        (local("2027-02-01T09:00"), local("2027-02-10T09:00"), ListState.ON_TIME, 0),
        # 23:30 on the due day in Shanghai is 15:30 UTC: still on time (local dates are compared)
        (local("2027-02-03T23:30"), local("2027-02-10T09:00"), ListState.ON_TIME, 0),
        # 00:10 the next day in Shanghai is still the due day in UTC: one day late all the same
        (local("2027-02-04T00:10"), local("2027-02-10T09:00"), ListState.LATE, 1),
        (local("2027-02-08T12:00"), local("2027-02-10T09:00"), ListState.LATE, 5),
        (None, local("2027-02-03T23:59"), ListState.NOT_DUE, 0),
        (None, local("2027-02-04T00:00"), ListState.MISSING, 1),
        (None, local("2027-02-10T09:00"), ListState.MISSING, 7),
    ],
)
def test_a_list_is_on_time_late_or_missing_by_local_dates(
    listed_at: datetime | None, now: datetime, state: ListState, days_late: int
) -> None:
    status = list_status(
        TONGDE, DUE, has_areas=listed_at is not None, listed_at=listed_at, now=now.astimezone(UTC), zone=SHANGHAI
    )
    assert (status.state, status.days_late) == (state, days_late)
    assert status.shown()["due_on"] == "2027-02-03"


def test_a_list_from_before_listing_times_is_undated_never_late() -> None:
    status = list_status(TONGDE, DUE, has_areas=True, listed_at=None, now=local("2027-03-01T00:00"), zone=SHANGHAI)
    assert (status.state, status.days_late, status.listed_on) == (ListState.UNDATED, 0, None)


def test_the_bureau_chases_late_and_missing_streets_longest_overdue_first() -> None:
    now = local("2027-02-10T09:00")
    statuses = [
        list_status("440111001", DUE, has_areas=True, listed_at=local("2027-02-02T10:00"), now=now, zone=SHANGHAI),
        list_status("440111002", DUE, has_areas=True, listed_at=local("2027-02-05T10:00"), now=now, zone=SHANGHAI),
        list_status("440111003", DUE, has_areas=False, listed_at=None, now=now, zone=SHANGHAI),
        list_status("440111004", DUE, has_areas=True, listed_at=local("2027-02-09T10:00"), now=now, zone=SHANGHAI),
    ]
    assert [(s.street, s.state, s.days_late) for s in overdue(statuses)] == [
        ("440111003", ListState.MISSING, 7),
        ("440111004", ListState.LATE, 6),
        ("440111002", ListState.LATE, 2),
    ]


# Tongde's register: two workers; 001 and 002 are Li's, 003 has nobody, 004 names a worker not registered.
LI = Worker(TONGDE, "T01", "李四")
WANG = Worker(TONGDE, "T02", "王五")
TONGDE_REGISTER = Register(
    scope=TONGDE,
    communities={
        f"{TONGDE}001": Community(f"{TONGDE}001", "同德社区", "T01"),
        f"{TONGDE}002": Community(f"{TONGDE}002", "鹅掌坦社区", "T01"),
        f"{TONGDE}003": Community(f"{TONGDE}003", "西槎社区", None),
        f"{TONGDE}004": Community(f"{TONGDE}004", None, "T09"),
    },
    workers={LI.key: LI, WANG.key: WANG},
)


def test_a_worker_never_shows_their_name_in_a_repr() -> None:
    assert "李四" not in repr(LI)
    assert "李四" not in repr(TONGDE_REGISTER)
    assert LI.shown() == {"street": TONGDE, "staff_id": "T01", "name": "李四"}


def test_a_community_lies_in_its_street() -> None:
    assert community_in_street(f"{TONGDE}001", TONGDE)
    assert not community_in_street(f"{XINSHI}001", TONGDE)
    assert not community_in_street(f"{TONGDE}01", TONGDE)
    assert not community_in_street(f"{TONGDE}0a1", TONGDE)


@pytest.mark.parametrize(
    ("community", "by", "group"),
    [
        (None, Cut.WORKER, (GroupKind.NO_COMMUNITY, "")),
        ("", Cut.COMMUNITY, (GroupKind.NO_COMMUNITY, "")),
        (f"{XINSHI}001", Cut.WORKER, (GroupKind.ELSEWHERE, "")),
        (f"{XINSHI}001", Cut.COMMUNITY, (GroupKind.ELSEWHERE, "")),
        (f"{TONGDE}002", Cut.COMMUNITY, (GroupKind.COMMUNITY, f"{TONGDE}002")),
        (f"{TONGDE}002", Cut.WORKER, (GroupKind.WORKER, f"{TONGDE}/T01")),
        (f"{TONGDE}003", Cut.WORKER, (GroupKind.UNASSIGNED, "")),  # registered, nobody responsible
        (f"{TONGDE}004", Cut.WORKER, (GroupKind.UNASSIGNED, "")),  # its worker is not registered
        (f"{TONGDE}009", Cut.WORKER, (GroupKind.UNASSIGNED, "")),  # seen in records only
        (f"{TONGDE}009", Cut.COMMUNITY, (GroupKind.COMMUNITY, f"{TONGDE}009")),
    ],
)
def test_every_item_falls_in_one_group(community: str | None, by: Cut, group: tuple[GroupKind, str]) -> None:
    assert TONGDE_REGISTER.group_of(community, by) == group


def test_communities_without_a_worker_are_listed_as_such() -> None:
    assert TONGDE_REGISTER.unassigned([f"{TONGDE}009", f"{XINSHI}001", None]) == [
        f"{TONGDE}003",
        f"{TONGDE}004",
        f"{TONGDE}009",
    ]
    assert TONGDE_REGISTER.communities_of(LI) == [f"{TONGDE}001", f"{TONGDE}002"]
    assert TONGDE_REGISTER.communities_of(WANG) == []


COUNTS = [
    ("new_inflow", f"{TONGDE}001", 2),
    ("new_inflow", f"{TONGDE}002", 1),
    ("new_inflow", f"{TONGDE}009", 1),
    ("new_inflow", None, 3),
    ("new_inflow", f"{XINSHI}001", 1),
    ("received_cross-street", f"{TONGDE}003", 1),
    ("rejected_at_intake", None, 2),
    (RECORDS, f"{TONGDE}001", 2),
    (RECORDS, f"{TONGDE}002", 1),
    (RECORDS, f"{TONGDE}009", 1),
    (RECORDS, None, 3),
    (RECORDS, f"{XINSHI}001", 1),
]


def _totals(cut: dict[str, object]) -> dict[str, int]:
    groups = cut["groups"]
    assert isinstance(groups, list)
    totals = {name: sum(g["figures"][name] for g in groups) for name in FIGURE_NAMES}
    return {**totals, RECORDS: sum(g["records"] for g in groups)}


@pytest.mark.parametrize("by", list(Cut))
def test_the_groups_of_a_cut_add_up_to_the_report(by: Cut) -> None:
    cut = weekly_cut(TONGDE_REGISTER, by, COUNTS)
    totals = _totals(cut)
    assert (totals["new_inflow"], totals["received_cross-street"], totals["rejected_at_intake"]) == (8, 1, 2)
    assert totals[RECORDS] == 8
    assert cut["unassigned_communities"] == [f"{TONGDE}003", f"{TONGDE}004", f"{TONGDE}009"]


def test_by_worker_lists_every_worker_even_a_quiet_one_then_the_groups_without_one() -> None:
    cut = weekly_cut(TONGDE_REGISTER, Cut.WORKER, COUNTS)
    shown = [
        (g["kind"], g.get("worker", {}).get("staff_id"), g["records"], g["figures"]["new_inflow"])
        for g in cut["groups"]
    ]
    assert shown == [
        ("worker", "T01", 3, 3),
        ("worker", "T02", 0, 0),  # Wang answers for nothing yet: still listed, with zeros
        ("unassigned", None, 1, 1),
        ("no_community", None, 3, 3),
        ("elsewhere", None, 1, 1),
    ]
    assert cut["groups"][0]["communities"] == [f"{TONGDE}001", f"{TONGDE}002"]
    assert cut["groups"][0]["worker"]["name"] == "李四"
    assert cut["groups"][2]["communities"] == [f"{TONGDE}003", f"{TONGDE}004", f"{TONGDE}009"]
    assert cut["groups"][3]["figures"]["rejected_at_intake"] == 2  # a rejection keeps no record, so no community


def test_by_community_lists_every_community_of_the_register_and_those_seen() -> None:
    cut = weekly_cut(TONGDE_REGISTER, Cut.COMMUNITY, COUNTS)
    shown = [
        (g["kind"], g.get("community"), (g.get("worker") or {}).get("staff_id"), g["records"]) for g in cut["groups"]
    ]
    assert shown == [
        ("community", f"{TONGDE}001", "T01", 2),
        ("community", f"{TONGDE}002", "T01", 1),
        ("community", f"{TONGDE}003", None, 0),
        ("community", f"{TONGDE}004", None, 0),
        ("community", f"{TONGDE}009", None, 1),
        ("no_community", None, None, 3),
        ("elsewhere", None, None, 1),
    ]
    assert cut["groups"][2]["figures"]["received_cross-street"] == 1


def test_a_district_cut_groups_its_streets_workers() -> None:
    xin = Worker(XINSHI, "X01", "赵六")
    district = Register(
        scope="440111",
        communities={**TONGDE_REGISTER.communities, f"{XINSHI}001": Community(f"{XINSHI}001", None, "X01")},
        workers={**TONGDE_REGISTER.workers, xin.key: xin},
    )
    cut = weekly_cut(district, Cut.WORKER, COUNTS)
    assert [g.get("worker", {}).get("staff_id") for g in cut["groups"] if g["kind"] == "worker"] == [
        "T01",
        "T02",
        "X01",
    ]
    assert not [g for g in cut["groups"] if g["kind"] == "elsewhere"]  # Xinshi is inside the district
    assert _totals(cut)["new_inflow"] == 8


def test_an_item_list_cut_by_worker_keeps_every_id_once() -> None:
    items: list[dict[str, str | None]] = [
        {"id": "a", "street": TONGDE, "community": f"{TONGDE}001"},
        {"id": "b", "street": TONGDE, "community": f"{TONGDE}002"},
        {"id": "c", "street": TONGDE, "community": None},
        {"id": "d", "street": TONGDE, "community": f"{TONGDE}003"},
    ]
    groups = item_groups(TONGDE_REGISTER, Cut.WORKER, items)
    assert [(g["kind"], g["count"], g["ids"]) for g in groups] == [
        ("worker", 2, ["a", "b"]),
        ("unassigned", 1, ["d"]),
        ("no_community", 1, ["c"]),
    ]


def test_a_sheet_line_becomes_the_routes_fields() -> None:
    cells = {"社区代码": f"{TONGDE}001", "社区名称": "同德社区", "责任人工号": "", "备注": "x"}
    assert line_fields(cells, COMMUNITY_COLUMNS) == {
        "code": f"{TONGDE}001",
        "name": "同德社区",
        "staff_id": None,
        "worker_name": None,
    }
    area = {"类型": "出租屋", "名称": "鹅掌坦", "地址": "3 巷", "计划清查日期": "2027-02-05", "责任人工号": "T01"}
    assert line_fields(area, AREA_COLUMNS)["kind"] == "rental_housing"
    assert line_fields({**area, "类型": "rental_housing"}, AREA_COLUMNS)["kind"] == "rental_housing"


def test_the_cut_as_a_sheet_has_a_row_per_group_and_the_total_last() -> None:
    cut = weekly_cut(TONGDE_REGISTER, Cut.WORKER, COUNTS)
    figures = dict.fromkeys(FIGURE_NAMES, 0) | {"new_inflow": 8, "received_cross-street": 1, "rejected_at_intake": 2}
    report = {
        "scope": "street",
        "code": TONGDE,
        "name": "同德街道",
        "week": "2027-W08",
        "starts_at": "2027-02-19T02:00:00+00:00",
        "ends_at": "2027-02-26T02:00:00+00:00",
        "records": 8,
        "figures": figures,
        "cut": cut,
    }
    sheet = cut_sheet(report, SHANGHAI)
    assert sheet.headers[:5] == ("责任人工号", "责任人", "所属街道", "负责社区", "记录数")
    assert sheet.rows[0][:5] == ("T01", "李四", TONGDE, f"{TONGDE}001、{TONGDE}002", 3)
    assert sheet.rows[2][0] == "（无责任人的社区）"
    assert sheet.rows[-1][:5] == ("合计", "", "", "", 8)
    new_inflow = sheet.headers.index("新流入")
    assert sum(row[new_inflow] for row in sheet.rows[:-1]) == sheet.rows[-1][new_inflow]  # type: ignore[misc]
    assert sheet.lines[-1] == f"无责任人的社区：{TONGDE}003、{TONGDE}004、{TONGDE}009"
