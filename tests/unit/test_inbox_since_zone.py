"""The inbox's `since` is an instant: a time without a time zone is refused, naming the field, not read as UTC.

A street office's system that asked for `since=2027-02-24T10:30:00` meaning Beijing time was answered from
18:30 Beijing time (the time read as UTC): the eight hours of notices between were left out of its page, and a
receiver that pulls its inbox by `since` never saw them. Every other edge refuses such a time (Envelope, the
exchange, intake's observed_at: tests/unit/test_naive_times.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import httpx
from fastapi import FastAPI, Request

from services.notification.adapters.sealed import SealedNotices
from services.notification.entrypoints.http.notices import notices_router
from services.notification.service_layer.notices import InboxPage, InboxQuery, Notices
from shared.auth.scopes import Principal, parse_scope
from shared.http.problems import install_problem_handlers
from tests.support.records import XINSHI


class Inbox:
    """The inbox's use case, keeping the query it was asked."""

    def __init__(self) -> None:
        self.asked: list[InboxQuery] = []

    async def page(self, principal: Principal, recipient_code: str, query: InboxQuery) -> InboxPage:
        self.asked.append(query)
        return InboxPage([], None)


async def _office(request: Request) -> Principal:
    return Principal("k1", parse_scope(f"street:{XINSHI}"))


async def test_a_since_without_a_time_zone_is_a_422_at_the_field_and_one_with_it_is_taken() -> None:
    inbox, unused = Inbox(), cast(Any, None)
    app = FastAPI()
    install_problem_handlers(app)
    router = notices_router(
        notices=cast(Notices, inbox),
        authenticate=_office,
        record_link_base="http://x/",
        sealed=cast(SealedNotices, unused),
    )
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notification") as client:
        naive = await client.get(f"/v1/inbox/{XINSHI}", params={"since": "2027-02-24T10:30:00"})
        beijing = await client.get(f"/v1/inbox/{XINSHI}", params={"since": "2027-02-24T10:30:00+08:00"})

    assert naive.status_code == 422, naive.text
    assert naive.headers["content-type"].startswith("application/problem+json")
    assert [e["pointer"] for e in naive.json()["errors"]] == ["/since"]
    assert beijing.status_code == 200, beijing.text
    assert [q.since for q in inbox.asked] == [datetime(2027, 2, 24, 2, 30, tzinfo=UTC)]  # the one taken, in UTC
