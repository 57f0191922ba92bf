"""The weekly figures and item lists cut by community and by worker, on the embedded SQLite store.

The scripted week plus records naming communities, folded without Kafka;
Tongde's register kept through the use case (names sealed). Each figure's
groups add up to the report's own figure for the street and the district,
by community and by worker: nothing counted twice, nothing dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.decoding import Decoder
from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.responsibility_store import ResponsibilityStore
from services.reporting.adapters.tables import workers
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.figures import FIGURE_NAMES
from services.reporting.domain.responsibility import Cut
from services.reporting.service_layer.cuts import WeeklyCuts
from services.reporting.service_layer.errors import Invalid
from services.reporting.service_layer.reports import ReportService
from services.reporting.service_layer.responsibility import CommunityEntry, Responsibilities
from shared.clock import FixedClock
from shared.db import build_engine, run_migrations
from tests.support import personal_data
from tests.support import scripted_week as week
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, XINSHI
from tests.support.reporting import report_service
from tests.unit.test_reporting_sqlite import CALENDAR, envelope, scripted_messages

W08 = "2027-W08"
LI = personal_data.used("李小四")
COMMUNITY_RECORDS = [
    # reported and living in Tongde's community 002 (Li's)
    week.submitted(
        "c1",
        street=TONGDE,
        event="new_inflow",
        observed="2027-02-21T10:00:00",
        received="2027-02-21T11:00:00",
        person=41,
        optional={"community": f"{TONGDE}002"},
    ),
    # reported by Xinshi, living in Tongde's community 002: a transfer notice to Tongde follows
    week.submitted(
        "c2",
        street=XINSHI,
        event="new_inflow",
        observed="2027-02-21T12:00:00",
        received="2027-02-21T13:00:00",
        person=43,
        residence=TONGDE,
        optional={"community": f"{TONGDE}002"},
    ),
    # living in Tongde's community 003, which nobody answers for
    week.submitted(
        "c3",
        street=TONGDE,
        event="verification",
        observed="2027-02-22T12:00:00",
        received="2027-02-22T13:00:00",
        person=45,
        optional={"community": f"{TONGDE}003"},
    ),
]
TRANSFER = week.notice("nc2", "c2", TONGDE, "cross-street", "2027-02-21T14:00:00")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/reporting.db")
    await run_migrations(engine, MIGRATIONS)
    messages = scripted_messages() + [envelope("RecordSubmitted", p) for p in COMMUNITY_RECORDS]
    messages.append(envelope("NoticeIssued", TRANSFER))
    await FactWriter(engine).write(Decoder(CALENDAR, b"secret", TEST_KEYRING).decode(messages).batch)
    yield engine
    await engine.dispose()


def services(engine: AsyncEngine) -> tuple[ReportService, Responsibilities]:
    reports = report_service(engine, CALENDAR, FixedClock(CALENDAR.bounds(W08).ends_at + timedelta(days=1)))
    return reports, Responsibilities(reports, ResponsibilityStore(engine, TEST_KEYRING))


async def keep_tongdes_register(register: Responsibilities) -> None:
    await register.register_workers(TONGDE, [("T02", personal_data.used("王小五"))])
    await register.assign_communities(
        TONGDE,
        [
            CommunityEntry(f"{TONGDE}001", "同德社区", "T01", worker_name=LI),  # registers Li on the way
            CommunityEntry(f"{TONGDE}002", "鹅掌坦社区", "T01"),
            CommunityEntry(f"{TONGDE}003", "西槎社区", None),
        ],
        at="communities",
    )


async def test_every_cut_adds_up_to_the_report(engine: AsyncEngine) -> None:
    reports, register = services(engine)
    await keep_tongdes_register(register)
    cuts = WeeklyCuts(reports, register)
    for code in (TONGDE, XINSHI, week.BAIYUN):
        report = await reports.weekly(code, W08)
        for by in Cut:
            groups = (await cuts.figures(code, W08, by))["groups"]
            assert sum(g["records"] for g in groups) == report["records"], (code, by)
            for figure in FIGURE_NAMES:
                assert sum(g["figures"][figure] for g in groups) == report["figures"][figure], (code, by, figure)


async def test_tongde_by_worker(engine: AsyncEngine) -> None:
    reports, register = services(engine)
    await keep_tongdes_register(register)
    cut = await WeeklyCuts(reports, register).figures(TONGDE, W08, Cut.WORKER)
    groups = {(g["kind"], (g.get("worker") or {}).get("staff_id")): g for g in cut["groups"]}
    li, wang = groups[("worker", "T01")], groups[("worker", "T02")]
    assert li["worker"]["name"] == LI
    assert li["communities"] == [f"{TONGDE}001", f"{TONGDE}002"]
    assert (li["records"], li["figures"]["new_inflow"]) == (2, 2)  # r1 (001) and c1 (002)
    assert li["figures"]["received_cross-street"] == 1  # the transfer of c2, who lives in 002
    assert wang["records"] == 0
    assert groups[("unassigned", None)]["figures"]["verification"] == 1  # c3 in 003
    assert groups[("no_community", None)]["figures"]["rejected_at_intake"] == 1
    assert cut["unassigned_communities"] == [f"{TONGDE}003"]
    xinshi = await WeeklyCuts(reports, register).figures(XINSHI, W08, Cut.WORKER)
    elsewhere = [g for g in xinshi["groups"] if g["kind"] == "elsewhere"]
    assert elsewhere[0]["records"] == 1  # c2, reported by Xinshi: Tongde's worker is not shown to Xinshi
    assert "worker" not in elsewhere[0]


async def test_an_item_list_by_community(engine: AsyncEngine) -> None:
    reports, register = services(engine)
    await keep_tongdes_register(register)
    body = await WeeklyCuts(reports, register).items(TONGDE, W08, "new_inflow", Cut.COMMUNITY)
    by_group = {g.get("community") or g["kind"]: g["ids"] for g in body["groups"]}
    assert by_group[f"{TONGDE}001"] == [week.rid("r1")]
    assert by_group[f"{TONGDE}002"] == [week.rid("c1")]
    assert {item["id"]: item["community"] for item in body["items"]}[week.rid("c1")] == f"{TONGDE}002"
    assert sum(g["count"] for g in body["groups"]) == body["count"]


async def test_names_are_sealed_at_rest_and_a_wrong_line_is_refused_without_them(engine: AsyncEngine) -> None:
    _reports, register = services(engine)
    await keep_tongdes_register(register)
    async with engine.connect() as connection:
        stored = " ".join(str(v) for row in (await connection.execute(sa.select(workers))).all() for v in row)
    assert LI not in stored
    assert "王小五" not in stored
    with pytest.raises(Invalid) as refused:
        await register.assign_communities(
            TONGDE,
            [CommunityEntry(f"{XINSHI}001", None, "T01"), CommunityEntry(f"{TONGDE}004", None, "T99")],
            at="lines",
            numbers=[3, 4],
        )
    assert [name for name, _ in refused.value.errors] == ["lines/3/code", "lines/4/staff_id"]
    assert LI not in str(refused.value.errors)
