"""The item lists of the weekly report a page at a time, on both stores, and their bad parameters over HTTP.

Every item comes once, in the order of the whole list (by id, then by what
tells one record's two notices apart), whatever the page size; `count` is
the figure's, on every page; a limit past the maximum or a cursor this
service did not give is a 422 problem document.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting.adapters.responsibility_store import ResponsibilityStore
from services.reporting.adapters.tables import notices, records
from services.reporting.bootstrap import MIGRATIONS
from services.reporting.domain.weeks import WeekCalendar
from services.reporting.entrypoints.http import install_use_case_errors
from services.reporting.entrypoints.http.reports import reports_router
from services.reporting.service_layer.cuts import WeeklyCuts
from services.reporting.service_layer.reports import ReportService
from services.reporting.service_layer.responsibility import Responsibilities
from shared.auth.scopes import Principal, parse_scope
from shared.clock import FixedClock
from shared.http.problems import install_problem_handlers
from tests.support.infra import TEST_KEYRING
from tests.support.records import TONGDE, WUSHAN
from tests.support.reporting import report_service
from tests.support.stores import STORES, migrated_store

ZONE = ZoneInfo("Asia/Shanghai")
WEEK = "2027-W08"  # 2027-02-19 10:00 to 2027-02-26 10:00
SEEN = datetime(2027, 2, 22, 2, 0, tzinfo=UTC)
RECORD_IDS = sorted(str(uuid.UUID(int=n * 7919)) for n in range(1, 26))
TWICE = RECORD_IDS[3]  # a record with two notices: its id is listed twice under sent_cross-street
NOTICED = [*RECORD_IDS[:6], TWICE]


@pytest.fixture(params=STORES)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_store(request.param, "items_", MIGRATIONS, tmp_path) as engine:
        async with engine.begin() as connection:
            await connection.execute(records.insert(), [_record(record_id) for record_id in RECORD_IDS])
            await connection.execute(
                notices.insert(), [_notice(f"n{n}", record_id) for n, record_id in enumerate(NOTICED)]
            )
        yield engine


def _record(record_id: str) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "reporting_street": TONGDE,
        "week": WEEK,
        "observed_at": SEEN,
        "received_at": SEEN,
        "submitted": True,
        "residence_street": WUSHAN,
        "event_kind": "new_inflow",
        "missing_mask": 0,
    }


def _notice(notice_id: str, record_id: str) -> dict[str, Any]:
    return {
        "notice_id": notice_id,
        "record_id": record_id,
        "recipient_code": WUSHAN,
        "route": "cross-street",
        "issued_at": SEEN,
        "week": WEEK,
        "sender_street": TONGDE,
    }


def service_of(engine: AsyncEngine) -> ReportService:
    return report_service(engine, WeekCalendar(ZONE, 4, time(10, 0)), FixedClock(datetime(2027, 3, 1, tzinfo=UTC)))


async def every_page(service: ReportService, figure: str, limit: int) -> tuple[list[str], set[int]]:
    """The ids of every page, in order, and the `count` each page gave."""
    ids: list[str] = []
    counts: set[int] = set()
    after = None
    while True:
        page = await service.items(TONGDE, WEEK, figure, limit=limit, after=after)
        assert len(page["items"]) <= limit
        ids += [item["id"] for item in page["items"]]
        counts.add(page["count"])
        if (after := page["next"]) is None:
            return ids, counts


@pytest.mark.parametrize("limit", [1, 7, 25, 1000])
async def test_paging_gives_every_item_once_in_order(engine: AsyncEngine, limit: int) -> None:
    service = service_of(engine)
    assert await every_page(service, "new_inflow", limit) == (RECORD_IDS, {25})
    sent = sorted(NOTICED)
    assert await every_page(service, "sent_cross-street", limit) == (sent, {7})


async def test_one_page_says_there_is_more(engine: AsyncEngine) -> None:
    first = await service_of(engine).items(TONGDE, WEEK, "new_inflow", limit=10)
    assert (first["count"], len(first["items"]), first["limit"]) == (25, 10, 10)
    assert first["next"] is not None
    whole = await service_of(engine).items(TONGDE, WEEK, "new_inflow")  # the default limit, 1,000
    assert (len(whole["items"]), whole["limit"], whole["next"]) == (25, 1000, None)


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    service = service_of(engine)
    cuts = WeeklyCuts(service, Responsibilities(service, ResponsibilityStore(engine, TEST_KEYRING)))

    async def admin(_: Request) -> Principal:
        return Principal("test", parse_scope("admin"))

    app = FastAPI()
    app.include_router(reports_router(service, cuts, admin))
    install_problem_handlers(app)
    install_use_case_errors(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reporting") as client:
        yield client


def _not_a_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"limit": "10001"}, "/limit"),
        ({"limit": "0"}, "/limit"),
        ({"limit": "many"}, "/limit"),
        ({"after": "%%%"}, "/after"),
        ({"after": _not_a_cursor('{"id": 1}')}, "/after"),
        ({"after": _not_a_cursor('["a", 2]')}, "/after"),
        ({"after": "A" * 401}, "/after"),
        # half of a character, a NUL: no id holds one, and the store cannot compare one (SQLite answered 500)
        ({"after": _not_a_cursor('["\\ud800", "x"]')}, "/after"),
        ({"after": _not_a_cursor('["a", "\\u0000"]')}, "/after"),
    ],
)
async def test_bad_paging_parameters_are_problem_documents(
    client: httpx.AsyncClient, params: dict[str, str], pointer: str
) -> None:
    query = {"street": TONGDE, "week": WEEK, "figure": "new_inflow", **params}
    answer = await client.get("/v1/reports/weekly/items", params=query)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [error["pointer"] for error in answer.json()["errors"]] == [pointer]


async def test_pages_over_http_carry_the_next_cursor(client: httpx.AsyncClient) -> None:
    query = {"street": TONGDE, "week": WEEK, "figure": "new_inflow", "limit": "20"}
    first = (await client.get("/v1/reports/weekly/items", params=query)).json()
    second = (await client.get("/v1/reports/weekly/items", params=query | {"after": first["next"]})).json()
    assert [item["id"] for item in first["items"] + second["items"]] == RECORD_IDS
    assert (first["count"], second["count"], second["next"]) == (25, 25, None)
