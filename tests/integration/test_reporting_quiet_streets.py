"""A district's weekly report lists every street of the district, quiet ones too, on both stores.

A street with nothing in the week still owes its report (表二, every Friday before 10:00): it shows zeros,
its sign-off state, and counts in the district's on-time rate, as the scheduled export writes its file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.signoff_store import SignoffStore
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.figures import FIGURE_NAMES
from services.reporting.domain.signoff import Signoff, SignoffState
from shared.directory import load_directory
from tests.integration.test_reporting_notice_figures import CUT_OFF, W08, at, fold, reports_at, submitted
from tests.support.records import BAIYUN, TONGDE, XINSHI
from tests.support.stores import STORES, migrated_store

QUIET = "440111004"  # 景泰街道: nothing reported, received or sent in W08


@pytest.fixture(params=STORES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_store(request.param, "quiet_streets_", MIGRATIONS, tmp_path) as engine:
        yield engine


async def test_a_quiet_street_is_listed_with_zeros_and_counts_in_the_on_time_rate(engine: AsyncEngine) -> None:
    assert QUIET in load_directory().streets_of(BAIYUN)
    await fold(engine, [submitted("r1", XINSHI)])  # 同德 reports a person living in 新市
    store = SignoffStore(engine)
    for street in (TONGDE, QUIET):  # both submit on time, the quiet street its week of zeros
        await store.save(Signoff(street, W08, SignoffState.SUBMITTED, at(25, 9), at(25, 9)), replacing=None)

    district = await reports_at(engine, CUT_OFF + timedelta(days=1)).weekly(BAIYUN, W08)

    streets = {s["code"]: s for s in district["streets"]}
    assert list(streets) == load_directory().streets_of(BAIYUN)  # every street, in code order
    quiet = streets[QUIET]
    assert quiet["figures"] == dict.fromkeys(FIGURE_NAMES, 0)
    assert (quiet["records"], quiet["name"]) == (0, load_directory().name_of(QUIET))
    assert (quiet["signoff"]["state"], quiet["signoff"]["on_time"]) == ("submitted", True)
    assert streets[XINSHI]["signoff"]["state"] == "not_submitted"
    assert district["on_time_rate"] == round(2 / len(streets), 4)
    assert district["records"] == 1
