"""A record whose RecordRouted is folded before its RecordSubmitted counts nowhere until the latter, on both stores.

The two events come on different topics, so the fold may see the route first; it then keeps a row with the
record's street, week and route but none of its own facts. Routing routes only what intake submitted, so the
submission is on its way: until it is folded, the record is in no figure, list or check of the report (not
in `records` or `routes` either), and once folded it counts once, under routing's street and route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.items import figure_counts, week_records_query
from services.reporting.adapters.spotcheck_store import SpotCheckStore
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.figures import RECORD_ROUTES
from services.reporting.service_layer.reports import ReportService
from shared.events import RecordRouted, Route
from tests.integration.test_reporting_notice_figures import CUT_OFF, W08, at, fold, reports_at, rid, submitted
from tests.support.records import BAIYUN, TONGDE, XINSHI
from tests.support.stores import STORES, migrated_store

NO_ROUTES = dict.fromkeys(RECORD_ROUTES, 0)
# intake's record reported by 同德; routing decided on 新市 (a retired street's successor, a bureau's correction)
SUBMITTED = submitted("early", TONGDE)
ROUTED = RecordRouted(
    record_id=rid("early"),
    route=Route.CROSS_STREET,
    reporting_street=XINSHI,
    residence_street=TONGDE,
    observed_at=at(22, 10),
    decided_at=at(22, 12),
)


@pytest.fixture(params=STORES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_store(request.param, "routed_first_", MIGRATIONS, tmp_path) as engine:
        yield engine


async def counted(engine: AsyncEngine, reports: ReportService) -> dict[str, Any]:
    """What each reader of the record facts makes of the district's week."""
    now, cut_off = await reports.weekly(BAIYUN, W08), await reports.weekly(BAIYUN, W08, at_cut_off=True)
    streets = {s["code"]: s for s in now["streets"]}
    candidates = SpotCheckStore(engine).candidates(BAIYUN, W08, W08)
    return {
        "records": (now["records"], cut_off["records"]),
        "streets": {code: (s["records"], s["routes"]) for code, s in streets.items() if code in (TONGDE, XINSHI)},
        "new_inflow": (await reports.items(BAIYUN, W08, "new_inflow"))["items"],
        "records_list": await figure_counts(engine, {"records": week_records_query(reports.bounds(W08), BAIYUN)}),
        "streets_with_facts": await reports.weekly_store.streets_with_facts(BAIYUN),
        "quality": [(q["street"], q["records"]) for q in (await reports.quality(BAIYUN, W08))["streets"]],
        "spot_check": [(street, ids) async for street, ids in candidates],
    }


async def test_a_record_routed_before_it_is_submitted_counts_once_its_submission_is_folded(
    engine: AsyncEngine,
) -> None:
    reports = reports_at(engine, CUT_OFF + timedelta(days=1))
    await fold(engine, [ROUTED])

    assert await counted(engine, reports) == {
        "records": (0, 0),
        "streets": {TONGDE: (0, NO_ROUTES), XINSHI: (0, NO_ROUTES)},
        "new_inflow": [],
        "records_list": [],
        "streets_with_facts": [],
        "quality": [],
        "spot_check": [],
    }

    await fold(engine, [SUBMITTED])

    assert await counted(engine, reports) == {
        "records": (1, 1),
        "streets": {TONGDE: (0, NO_ROUTES), XINSHI: (1, {**NO_ROUTES, "cross-street": 1})},
        "new_inflow": [{"id": rid("early"), "street": XINSHI, "community": None}],
        "records_list": [("records", None, 1)],
        "streets_with_facts": [XINSHI],
        "quality": [(XINSHI, 1)],
        "spot_check": [(XINSHI, [rid("early")])],
    }
