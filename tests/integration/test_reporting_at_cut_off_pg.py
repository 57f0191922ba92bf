"""The week as it stood at its cut-off on PostgreSQL: tests/unit/test_reporting_at_cut_off.py's tests, on a
migrated PostgreSQL database instead of SQLite (the comparisons of times and the marking's CASE are the
dialect's own)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.decoding import Decoder
from services.reporting.adapters.fold import FactWriter
from services.reporting.bootstrap import MIGRATIONS
from tests.support.infra import TEST_KEYRING, migrated_database
from tests.unit.test_reporting_at_cut_off import (  # noqa: F401 - collected here again, on PostgreSQL
    plan,
    reports,
    test_a_campaign_created_and_areas_listed_after_the_cut_off_are_not_in_the_file,
    test_a_sign_off_returned_before_the_cut_off_and_submitted_again_after_it_stands_returned_in_the_file,
    test_an_area_marked_again_after_the_cut_off_on_the_same_day_stays_in_the_file,
    test_an_area_marked_canvassed_after_the_cut_off_is_not_counted_canvassed_in_the_file,
    test_an_area_whose_day_is_changed_after_the_cut_off_keeps_the_day_it_had_in_the_file,
    test_the_district_file_shows_each_streets_sign_off_as_it_stood,
    test_two_marks_of_one_area_at_once_are_kept_one_after_the_other,
)
from tests.unit.test_reporting_sqlite import CALENDAR, scripted_messages


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    async with migrated_database("cutoff", MIGRATIONS) as sessions:
        engine: AsyncEngine = sessions.kw["bind"]
        await FactWriter(engine).write(Decoder(CALENDAR, b"secret", TEST_KEYRING).decode(scripted_messages()).batch)
        yield engine
