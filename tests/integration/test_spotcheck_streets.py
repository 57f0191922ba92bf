"""A spot check reads its candidates one street at a time and draws what the whole district at once drew.

A year of a district is millions of records: the draw once held every
candidate id of the span in memory. It now streams them in the order of
their streets, a fetch of STREAMED_ROWS at a time, and holds one street's.
The sample must not change: a seed draws the same cases as before, on
PostgreSQL, with streets that straddle fetches.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.reporting.adapters import spotcheck_store
from services.reporting.adapters.spotcheck_store import SpotCheckStore
from services.reporting.adapters.tables import records
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.spotchecks import draw_sample, draw_street
from tests.support.infra import migrated_database

DISTRICT = "440111"
# streets of the district (one with a single record, one with many), and one of another district
STREETS = {f"{DISTRICT}001": 7, f"{DISTRICT}002": 1, f"{DISTRICT}010": 13, "440112001": 5}


async def test_streets_streamed_across_fetches_draw_the_sample_of_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spotcheck_store, "STREAMED_ROWS", 3)  # every street but one straddles two fetches
    rows, expected = [], defaultdict(list)
    for street, count in STREETS.items():
        for n in range(count):
            record_id = str(uuid.uuid4())
            week = "2027-W08" if n % 4 else "2027-W09"
            rows.append(
                {
                    "record_id": record_id,
                    "reporting_street": street,
                    "week": week,
                    "observed_at": datetime(2027, 2, 24, tzinfo=UTC),
                    "submitted": True,
                    "event_kind": "new_inflow" if n != 2 else None,  # an event that is no record's: not a candidate
                    "missing_mask": 0,
                }
            )
            if street.startswith(DISTRICT) and n != 2 and week == "2027-W08":
                expected[street].append(record_id)
    async with migrated_database("spotstreets", MIGRATIONS) as sessions:
        engine = sessions.kw["bind"]
        async with engine.begin() as connection:
            await connection.execute(sa.insert(records), rows)
        streamed = [
            (street, ids) async for street, ids in SpotCheckStore(engine).candidates(DISTRICT, "2027-W08", "2027-W08")
        ]
    assert [street for street, _ in streamed] == sorted(expected)  # each street once, in order
    assert {street: sorted(ids) for street, ids in streamed} == {s: sorted(ids) for s, ids in expected.items()}
    drawn = {street: draw_street(street, ids, seed="2027-spring", size_per_street=4) for street, ids in streamed}
    assert drawn == draw_sample(expected, seed="2027-spring", size_per_street=4)
