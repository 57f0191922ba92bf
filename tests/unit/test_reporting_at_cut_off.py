"""A week as it stood at its cut-off (the scheduled export's files, written late too), on the embedded SQLite store.

The scripted week folded without Kafka, then the bureau's own steps around W08's cut-off (Friday
2027-02-26 10:00 Shanghai): a sign-off returned before it and submitted again after it, a campaign
created after it, key areas listed after it. The file of the week shows each as it stood at the
cut-off; the API shows them as they are now.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.decoding import Decoder
from services.reporting.adapters.fold import FactWriter
from services.reporting.adapters.responsibility_store import ResponsibilityStore
from services.reporting.adapters.tables import key_area_marks, key_areas
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.signoff import Decision, Signoff, SignoffState, Step, as_it_stood
from services.reporting.service_layer.campaigns import CampaignPlan
from services.reporting.service_layer.reports import ReportService
from services.reporting.service_layer.responsibility import Responsibilities
from services.reporting.service_layer.signoffs import review_week, submit_week
from shared.clock import FixedClock
from shared.db import build_engine, run_migrations
from tests.support import scripted_week as week
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, XINSHI
from tests.support.reporting import report_service
from tests.unit.test_reporting_sqlite import CALENDAR, scripted_messages

W08 = "2027-W08"
CUT_OFF = CALENDAR.bounds(W08).ends_at


def hours(n: float) -> datetime:
    """`n` hours after (negative: before) W08's cut-off, in UTC as the service's clock gives it."""
    return (CUT_OFF + timedelta(hours=n)).astimezone(UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/reporting.db")
    await run_migrations(engine, MIGRATIONS)
    await FactWriter(engine).write(Decoder(CALENDAR, b"secret", TEST_KEYRING).decode(scripted_messages()).batch)
    yield engine
    await engine.dispose()


@pytest.fixture
def reports(engine: AsyncEngine) -> ReportService:
    return service(engine)


@pytest.fixture
def plan(reports: ReportService, engine: AsyncEngine) -> CampaignPlan:
    """The campaign plan as the HTTP routes call it, on the same clock."""
    return CampaignPlan(
        reports, reports.campaigns, Responsibilities(reports, ResponsibilityStore(engine, TEST_KEYRING))
    )


def service(engine: AsyncEngine) -> ReportService:
    return report_service(engine, CALENDAR, FixedClock(hours(-30)))


def at(reports: ReportService, moment: datetime) -> None:
    assert isinstance(reports.clock, FixedClock)
    reports.clock.at = moment


async def test_a_sign_off_returned_before_the_cut_off_and_submitted_again_after_it_stands_returned_in_the_file(
    reports: ReportService,
) -> None:
    at(reports, hours(-20))
    await submit_week(reports, TONGDE, W08)
    at(reports, hours(-2))
    await review_week(reports, TONGDE, W08, Decision.RETURN, "第3行缺少居住地址")
    at(reports, hours(3))
    await submit_week(reports, TONGDE, W08)

    file = (await reports.weekly(TONGDE, W08, at_cut_off=True))["signoff"]
    assert (file["state"], file["reviewed_at"]) == ("returned", hours(-2).isoformat())
    assert file["comment"] == "第3行缺少居住地址"
    assert file["resubmitted_at"] is None
    assert file["on_time"] is True  # first submitted before the cut-off
    now = (await reports.weekly(TONGDE, W08))["signoff"]
    assert (now["state"], now["resubmitted_at"]) == ("submitted", hours(3).isoformat())


async def test_the_district_file_shows_each_streets_sign_off_as_it_stood(reports: ReportService) -> None:
    at(reports, hours(-20))
    await submit_week(reports, TONGDE, W08)
    await submit_week(reports, XINSHI, W08)
    at(reports, hours(-10))
    await review_week(reports, TONGDE, W08, Decision.RETURN, "请补充")
    at(reports, hours(-5))
    await submit_week(reports, TONGDE, W08)
    await review_week(reports, TONGDE, W08, Decision.ACCEPT, "")
    await review_week(reports, XINSHI, W08, Decision.RETURN, "漏报两户")
    at(reports, hours(1))
    await submit_week(reports, XINSHI, W08)
    await review_week(reports, XINSHI, W08, Decision.ACCEPT, "")

    streets = {s["code"]: s["signoff"] for s in (await reports.weekly(week.BAIYUN, W08, at_cut_off=True))["streets"]}
    assert (streets[TONGDE]["state"], streets[TONGDE]["resubmitted_at"]) == ("accepted", hours(-5).isoformat())
    assert (streets[XINSHI]["state"], streets[XINSHI]["comment"]) == ("returned", "漏报两户")
    now = {s["code"]: s["signoff"] for s in (await reports.weekly(week.BAIYUN, W08))["streets"]}
    assert now[XINSHI]["state"] == "accepted"


async def test_a_campaign_created_and_areas_listed_after_the_cut_off_are_not_in_the_file(
    reports: ReportService,
) -> None:
    at(reports, hours(-50))
    spring = await create_campaign(reports, "春季清查", min_age=15)
    await add_area(reports, spring, planned_on="2027-02-22")
    at(reports, hours(2))
    await add_area(reports, spring, planned_on="2027-02-23")  # listed after the cut-off
    at(reports, hours(4))
    redo = await create_campaign(reports, "春季清查（修订）", min_age=20)

    file = await reports.weekly(TONGDE, W08, at_cut_off=True)
    assert (file["campaign"]["campaign_id"], file["campaign"]["planned_areas"]) == (spring, 1)
    now = await reports.weekly(TONGDE, W08)
    assert now["campaign"]["campaign_id"] == redo


async def test_an_area_marked_canvassed_after_the_cut_off_is_not_counted_canvassed_in_the_file(
    reports: ReportService, plan: CampaignPlan
) -> None:
    """The clerk marks on Friday afternoon the market canvassed on Thursday: the week's live report counts
    it, the file written at (or after) the cut-off does not, as it could not at 10:00."""
    at(reports, hours(-50))
    spring = await create_campaign(reports, "春季清查", min_age=15)
    early, late = [await add_area(reports, spring, planned_on="2027-02-22") for _ in range(2)]
    at(reports, hours(-30))
    await plan.mark_canvassed(spring, early, datetime.fromisoformat("2027-02-24").date())
    at(reports, hours(3))
    await plan.mark_canvassed(spring, late, datetime.fromisoformat("2027-02-25").date())

    file = await reports.weekly(TONGDE, W08, at_cut_off=True)
    assert (file["campaign"]["planned_areas"], file["campaign"]["canvassed_areas"]) == (2, 1)
    now = await reports.weekly(TONGDE, W08)
    assert now["campaign"]["canvassed_areas"] == 2
    district = await reports.weekly(week.BAIYUN, W08, at_cut_off=True)
    assert district["campaign"]["canvassed_areas"] == 1


async def test_an_area_marked_again_after_the_cut_off_on_the_same_day_stays_in_the_file(
    reports: ReportService, plan: CampaignPlan, engine: AsyncEngine
) -> None:
    """A clerk's retry after 10:00 does not take back what the file at 10:00 counted; an area marked
    before its marking time was kept (migration 0008) counts as marked by any cut-off."""
    at(reports, hours(-50))
    spring = await create_campaign(reports, "春季清查", min_age=15)
    retried, older = [await add_area(reports, spring, planned_on="2027-02-22") for _ in range(2)]
    thursday = datetime.fromisoformat("2027-02-25").date()
    at(reports, hours(-30))
    await plan.mark_canvassed(spring, retried, thursday)
    await plan.mark_canvassed(spring, older, thursday)
    async with engine.begin() as connection:  # as revision 0009 leaves an area marked before 0008
        await connection.execute(
            sa.update(key_area_marks).where(key_area_marks.c.area_id == older).values(marked_at=None)
        )
    at(reports, hours(3))
    await plan.mark_canvassed(spring, retried, thursday)
    await plan.mark_canvassed(spring, older, thursday)

    file = await reports.weekly(TONGDE, W08, at_cut_off=True)
    assert file["campaign"]["canvassed_areas"] == 2


async def test_an_area_whose_day_is_changed_after_the_cut_off_keeps_the_day_it_had_in_the_file(
    reports: ReportService, plan: CampaignPlan
) -> None:
    """Counted on Thursday in the file written at 10:00; the clerk moves its day to the next Monday in the
    afternoon, and to Wednesday the day after. A file of W08 written late still counts it, as the one on time
    did; the live report of W08 counts it on its latest day, also in W08."""
    at(reports, hours(-50))
    spring = await create_campaign(reports, "春季清查", min_age=15)
    moved, moved_back = [await add_area(reports, spring, planned_on="2027-02-22") for _ in range(2)]
    at(reports, hours(-30))
    for area in (moved, moved_back):
        await plan.mark_canvassed(spring, area, datetime.fromisoformat("2027-02-25").date())
    at(reports, hours(4))
    for area in (moved, moved_back):
        await plan.mark_canvassed(spring, area, datetime.fromisoformat("2027-03-01").date())  # W09
    at(reports, hours(28))
    await plan.mark_canvassed(spring, moved_back, datetime.fromisoformat("2027-02-24").date())

    file = await reports.weekly(TONGDE, W08, at_cut_off=True)
    assert file["campaign"]["canvassed_areas"] == 2
    now = await reports.weekly(TONGDE, W08)
    assert now["campaign"]["canvassed_areas"] == 1  # `moved` is in W09 now
    w09 = await reports.weekly(TONGDE, "2027-W09")
    assert w09["campaign"]["canvassed_areas"] == 1


async def test_two_marks_of_one_area_at_once_are_kept_one_after_the_other(
    reports: ReportService, plan: CampaignPlan, engine: AsyncEngine
) -> None:
    """Two clerks, or one clerk's double click: another day each keeps both days in order; the same day twice
    keeps one mark. Neither fails."""
    at(reports, hours(-50))
    spring = await create_campaign(reports, "春季清查", min_age=15)
    areas = [await add_area(reports, spring, planned_on="2027-02-22") for _ in range(10)]
    thursday, friday = datetime.fromisoformat("2027-02-25").date(), datetime.fromisoformat("2027-02-26").date()
    at(reports, hours(-30))
    await asyncio.gather(*(plan.mark_canvassed(spring, area, day) for area in areas[:5] for day in (thursday, friday)))
    await asyncio.gather(*(plan.mark_canvassed(spring, area, day) for area in areas[5:] for day in (friday, friday)))

    async with engine.connect() as connection:
        marks = (await connection.execute(sa.select(key_area_marks))).all()
        days = dict((await connection.execute(sa.select(key_areas.c.area_id, key_areas.c.canvassed_on))).all())
    kept: dict[str, list[tuple[int, Any]]] = {}
    for mark in marks:
        kept.setdefault(mark.area_id, []).append((mark.seq, mark.canvassed_on))
    for area in areas[:5]:
        assert sorted(day for _, day in kept[area]) == [thursday, friday]
        assert sorted(kept[area])[-1][1] == days[area]  # the latest mark is the area's day
    assert all(kept[area] == [(1, friday)] for area in areas[5:])


async def test_areas_marked_before_the_marks_were_kept_get_their_one_mark_when_migrated(tmp_path: Path) -> None:
    """Revision 0009 on a store at 0008: each marked area's day becomes its first mark, with the time 0008 kept
    (none for an area marked before 0008); an area never marked gets none; the time
    moves from the area to its mark."""
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/reporting.db")
    await run_migrations(engine, MIGRATIONS, revision="0008")
    thursday, monday = datetime.fromisoformat("2027-02-25").date(), datetime.fromisoformat("2027-03-01").date()
    common = {
        "campaign_id": "c",
        "street": TONGDE,
        "kind": "market",
        "name": "市场",
        "address": "路1号",
        "planned_on": thursday,
    }
    at_0008 = sa.table("key_areas", *(sa.column(name) for name in (*common, "area_id", "canvassed_on", "canvassed_at")))
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(at_0008),
            [
                {
                    **common,
                    "area_id": "a1",
                    "planned_on": thursday,
                    "canvassed_on": thursday,
                    "canvassed_at": hours(-3),
                },
                {**common, "area_id": "a2", "canvassed_on": monday, "canvassed_at": None},
                {**common, "area_id": "a3", "canvassed_on": None, "canvassed_at": None},
            ],
        )
    await run_migrations(engine, MIGRATIONS)
    async with engine.connect() as connection:
        marks = (await connection.execute(sa.select(key_area_marks).order_by(key_area_marks.c.area_id))).all()
        columns = await connection.run_sync(lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("key_areas")})
    await engine.dispose()
    assert "canvassed_at" not in columns  # the time moved to the marks
    assert [(m.area_id, m.seq, m.canvassed_on, m.marked_at and m.marked_at.replace(tzinfo=UTC)) for m in marks] == [
        ("a1", 1, thursday, hours(-3)),
        ("a2", 1, monday, None),
    ]


async def create_campaign(reports: ReportService, name: str, *, min_age: int) -> str:
    campaign_id = str(uuid.uuid4())
    target: dict[str, Any] = {"sexes": [], "min_age": min_age, "max_age": None, "marital_statuses": []}
    phases = [{"name": "canvass", "starts_on": "2027-02-01", "ends_on": "2027-03-10"}]
    values = {"name": name, "district": week.BAIYUN, "phases": phases, "target": target}
    await reports.campaigns.create({**values, "campaign_id": campaign_id, "created_at": reports.clock.now()})
    return campaign_id


async def add_area(reports: ReportService, campaign_id: str, *, planned_on: str) -> str:
    area_id = str(uuid.uuid4())
    area = {
        "area_id": area_id,
        "campaign_id": campaign_id,
        "street": TONGDE,
        "kind": "market",
        "name": "同德市场",
        "address": "同德路1号",
        "planned_on": datetime.fromisoformat(planned_on).date(),
        "listed_at": reports.clock.now(),
    }
    await reports.campaigns.add_areas([area])
    return area_id


SUBMITTED_AT, RETURNED_AT, AGAIN_AT = hours(-20), hours(-2), hours(3)
LATEST = Signoff(TONGDE, W08, SignoffState.SUBMITTED, first_submitted_at=SUBMITTED_AT, submitted_at=AGAIN_AT)
STEPS = [
    Step(SUBMITTED_AT, SignoffState.SUBMITTED),
    Step(RETURNED_AT, SignoffState.RETURNED, "缺少地址"),
    Step(AGAIN_AT, SignoffState.SUBMITTED),
]


def test_the_steps_up_to_a_moment_give_the_sign_off_then() -> None:
    assert as_it_stood(LATEST, hours(-30), STEPS) is None
    assert as_it_stood(LATEST, hours(-10), STEPS) == Signoff(
        TONGDE, W08, SignoffState.SUBMITTED, SUBMITTED_AT, SUBMITTED_AT
    )
    returned = as_it_stood(LATEST, hours(0), STEPS)
    assert returned is not None
    assert (returned.state, returned.reviewed_at, returned.comment) == (SignoffState.RETURNED, RETURNED_AT, "缺少地址")
    assert as_it_stood(LATEST, hours(5), STEPS) == LATEST


def test_a_sign_off_without_its_first_step_recorded_is_shown_as_its_row_allows() -> None:
    """Sign-offs from before the steps were kept: submitted again after the moment reads as submitted then."""
    for steps in ([], STEPS[1:]):
        stood = as_it_stood(LATEST, hours(0), steps)
        assert stood is not None
        assert (stood.state, stood.submitted_at) == (SignoffState.SUBMITTED, SUBMITTED_AT)
