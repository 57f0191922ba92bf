"""The certificate follow-up list cut at its limit, on both stores: the most urgent kept, and the cut said.

The store sorts in SQL and cuts there, so its order must be the domain's
(missing, invalid, expired, expiring; no date first): PostgreSQL puts NULLs
last where SQLite puts them first, and a plain ORDER BY valid_until cut the
missing certificates, the most urgent, first.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.certificate_store import CertificateStore
from services.reporting.adapters.exports import to_xlsx
from services.reporting.adapters.tables import records
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.weeks import WeekCalendar
from services.reporting.service_layer.certificates import CertificateFollowUps
from shared.clock import FixedClock
from tests.support.records import TONGDE
from tests.support.stores import STORES, migrated_store

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 3, 1, 4, 0, tzinfo=UTC)
TODAY = NOW.astimezone(ZONE).date()
SEEN = NOW - timedelta(days=2)

# record id: (result, valid until); every one a different person, all of them to follow up
CHECKS: dict[str, tuple[str, date | None]] = {
    "a-expiring-5": ("valid", TODAY + timedelta(days=5)),
    "b-expiring-20": ("valid", TODAY + timedelta(days=20)),
    "c-expired": ("expired", TODAY - timedelta(days=3)),
    "d-missing": ("missing", None),
    "e-invalid": ("invalid", TODAY + timedelta(days=100)),
    "f-missing": ("missing", None),
    "g-lapsed": ("valid", TODAY - timedelta(days=40)),
}
MOST_URGENT_FIRST = ["d-missing", "f-missing", "e-invalid", "g-lapsed", "c-expired", "a-expiring-5", "b-expiring-20"]


@pytest.fixture(params=STORES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_store(request.param, "certcut_", MIGRATIONS, tmp_path) as engine:
        async with engine.begin() as connection:
            await connection.execute(records.insert(), [_fact(rid, *check) for rid, check in CHECKS.items()])
        yield engine


def _fact(record_id: str, result: str, valid_until: date | None) -> dict[str, object]:
    return {
        "record_id": record_id,
        "reporting_street": TONGDE,
        "week": "2027-W09",
        "observed_at": SEEN,
        "received_at": SEEN,
        "submitted": True,
        "residence_street": TONGDE,
        "event_kind": "new_inflow",
        "person_key": f"person-{record_id}",
        "cert_result": result,
        "cert_valid_until": valid_until,
        "missing_mask": 0,
    }


def follow_ups(engine: AsyncEngine, limit: int) -> CertificateFollowUps:
    return CertificateFollowUps(
        CertificateStore(engine), WeekCalendar(ZONE, 4, time(10, 0)), FixedClock(NOW), limit=limit
    )


async def test_the_whole_list_most_urgent_first_and_not_cut(engine: AsyncEngine) -> None:
    listing = await follow_ups(engine, limit=len(CHECKS)).listing(TONGDE, within_days=30)
    assert [item["record_id"] for item in listing["items"]] == MOST_URGENT_FIRST
    assert (listing["limit"], listing["truncated"]) == (len(CHECKS), False)


async def test_a_cut_list_keeps_the_most_urgent_and_says_it_was_cut(engine: AsyncEngine) -> None:
    service = follow_ups(engine, limit=4)
    listing = await service.listing(TONGDE, within_days=30)
    assert [item["record_id"] for item in listing["items"]] == MOST_URGENT_FIRST[:4]
    assert [item["follow_up"] for item in listing["items"]] == ["missing", "missing", "invalid", "expired"]
    assert (listing["limit"], listing["truncated"]) == (4, True)
    sheet = load_workbook(io.BytesIO(to_xlsx(await service.sheet(TONGDE, within_days=30)))).active
    assert sheet is not None
    cells = [str(cell) for row in sheet.iter_rows(values_only=True) for cell in row if cell is not None]
    assert "名单已截断：只列出最紧急的 4 人，其余未列出" in cells
    assert [rid for rid in MOST_URGENT_FIRST if rid in cells] == MOST_URGENT_FIRST[:4]


async def test_a_full_list_exactly_at_the_limit_is_not_marked_cut(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:  # cleared: valid beyond the window
        await connection.execute(
            records.update()
            .where(records.c.record_id.in_(["a-expiring-5", "b-expiring-20", "c-expired"]))
            .values(cert_result="valid", cert_valid_until=TODAY + timedelta(days=400))
        )
    listing = await follow_ups(engine, limit=4).listing(TONGDE, within_days=30)
    assert [item["record_id"] for item in listing["items"]] == ["d-missing", "f-missing", "e-invalid", "g-lapsed"]
    assert listing["truncated"] is False
