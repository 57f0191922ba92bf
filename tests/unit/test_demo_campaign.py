"""`popflow demo` plans its key areas in the report week it plays, so the dashboard's campaign line counts them.

A newcomer's demo on a Sunday planned and canvassed the areas six days back, in the week before, and the
dashboard said "本周计划清查重点区域 0 处，已清查 0 处" under the README's promise of a real week.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.cli import demo_week
from services.reporting.domain.campaign import week_of_day
from services.reporting.domain.weeks import WeekCalendar, report_week, report_week_of

ZONE = ZoneInfo("Asia/Shanghai")


def reporting_that_records(sent: list[tuple[str, dict[str, Any]]]) -> httpx.Client:
    """A reporting service that accepts every demo step and keeps the JSON bodies it was sent."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("content-type") == "application/json":
            sent.append((request.url.path, json.loads(request.content)))
        return httpx.Response(201, json={"campaign_id": "c1", "area_ids": ["a1", "a2", "a3"]})

    return httpx.Client(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 6, 14, 0, tzinfo=ZONE),  # a Sunday: six days back is last week's Monday
        datetime(2026, 12, 11, 8, 0, tzinfo=ZONE),  # a Friday before the 10:00 cut-off: today is next week's day
        datetime(2026, 12, 11, 11, 0, tzinfo=ZONE),  # the same Friday after it: the week began today
        datetime(2026, 12, 10, 18, 0, tzinfo=ZONE),  # a Thursday, the week's last day
    ],
)
def test_the_key_areas_are_planned_and_canvassed_in_the_week_under_way(now: datetime) -> None:
    week = report_week(report_week_of(now, ZONE), ZONE)
    sent: list[tuple[str, dict[str, Any]]] = []
    at = demo_week.Services(intake="http://i", notification="http://n", reporting="http://r", key="k")
    with reporting_that_records(sent) as client:
        demo_week.plan_campaign(client, at, "440111", ["440111005"], now.date(), week.starts_at.date())

    calendar = WeekCalendar(ZONE)
    areas = next(body for path, body in sent if path.endswith("/areas"))
    canvassed = next(body for path, body in sent if path.endswith("/canvassed"))
    planned_on = {area["planned_on"] for area in areas["areas"]}
    assert {week_of_day(datetime.fromisoformat(day).date(), calendar) for day in planned_on} == {week.name}
    assert week_of_day(datetime.fromisoformat(str(canvassed["on"])).date(), calendar) == week.name
    assert datetime.fromisoformat(str(canvassed["on"])).date() <= now.date()  # nothing canvassed in the future
    campaign = next(body for path, body in sent if path == "/v1/campaigns")
    canvass = next(p for p in campaign["phases"] if p["name"] == "canvass")
    assert canvass["starts_on"] <= min(planned_on) <= canvass["ends_on"]
