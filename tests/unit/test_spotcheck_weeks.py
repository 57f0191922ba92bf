"""A spot check's population is named by report weeks: a week that does not exist is a 422, not a silent draw.

The weeks are compared as names (`YYYY-Www` sorts in time order), so a typo such as `2027-W60` for
`2027-W06` would draw from every week of the year after the first, and a name such as `2027-W00` from
none, each answered 201 as if the bureau had asked for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI, Request

from services.reporting.adapters.placecheck_store import PlaceCheckStore
from services.reporting.adapters.spotcheck_store import SpotCheckStore
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.weeks import WeekCalendar
from services.reporting.entrypoints.http import install_use_case_errors
from services.reporting.entrypoints.http.spotchecks import spotchecks_router
from services.reporting.service_layer.spotchecks import SpotChecks
from shared.auth.scopes import Principal, parse_scope
from shared.clock import FixedClock
from shared.http.problems import install_problem_handlers
from tests.support.reporting import report_service
from tests.support.stores import migrated_store

CALENDAR = WeekCalendar(ZoneInfo("Asia/Shanghai"), 4, time(10, 0))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with migrated_store("sqlite", "spot_weeks", MIGRATIONS, tmp_path) as engine:
        service = report_service(engine, CALENDAR, FixedClock(datetime(2027, 3, 1, tzinfo=UTC)))
        checks = SpotChecks(service, SpotCheckStore(engine), PlaceCheckStore(engine), threshold=0.1)

        async def bureau(_: Request) -> Principal:
            return Principal("test", parse_scope("district:440111"))

        app = FastAPI()
        app.include_router(spotchecks_router(checks, bureau))
        install_problem_handlers(app)
        install_use_case_errors(app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reporting") as client:
            yield client


def _draw(week_from: str, week_to: str) -> dict[str, object]:
    return {"district": "440111", "seed": "s", "size_per_street": 3, "week_from": week_from, "week_to": week_to}


@pytest.mark.parametrize(
    ("week_from", "week_to", "pointer"),
    [
        ("2027-W05", "2027-W60", "/week_to"),  # W06 mistyped: every week of 2027 after W05
        ("2027-W00", "2027-W08", "/week_from"),
        ("2026-W50", "2027-W53", "/week_to"),  # 2026 has a week 53, 2027 none
        ("0999-W01", "2027-W08", "/week_from"),
    ],
)
async def test_a_week_that_does_not_exist_is_refused(
    client: httpx.AsyncClient, week_from: str, week_to: str, pointer: str
) -> None:
    answer = await client.post("/v1/spotchecks", json=_draw(week_from, week_to))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [error["pointer"] for error in answer.json()["errors"]] == [pointer]


async def test_real_weeks_across_a_year_boundary_are_drawn(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/spotchecks", json=_draw("2026-W52", "2027-W01"))
    assert answer.status_code == 201, answer.text


async def test_a_span_of_more_than_a_year_of_weeks_is_refused(client: httpx.AsyncClient) -> None:
    # the draw reads every case of the district in the span into memory: a hundred years of a district was a 201
    longest = await client.post("/v1/spotchecks", json=_draw("2026-W09", "2027-W08"))  # 53 weeks: 2026 has a W53
    assert longest.status_code == 201, longest.text
    answer = await client.post("/v1/spotchecks", json=_draw("2026-W09", "2027-W09"))
    assert answer.status_code == 422, answer.text
    assert [error["pointer"] for error in answer.json()["errors"]] == ["/week_to"]
    assert "53 report weeks" in answer.text
    century = await client.post("/v1/spotchecks", json=_draw("1927-W01", "2027-W01"))
    assert century.status_code == 422, century.text
