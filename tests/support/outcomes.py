"""What a running system has done, read from its stores and its report: for tests that kill a part of it
mid-stream and then check that every record was stored, routed, notified and counted once.

Each returns None until the count is reached, for `eventually`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import httpx

from tests.support.receivers import Receiver
from tests.support.records import BAIYUN
from tests.support.routing import fetch
from tests.support.system import System

WEEK = "2026-W09"  # the week of tests.support.records' observed_at


async def stored(system: System, count: int) -> set[str] | None:
    """Intake's record ids."""
    rows = await fetch(system.env["INTAKE_DATABASE_URL"], "SELECT record_id FROM records")
    return {row[0] for row in rows} if len(rows) >= count else None


async def routed(system: System, count: int) -> dict[str, str] | None:
    """Routing's decided records: record id -> route (one row a record)."""
    rows = await fetch(system.env["ROUTING_DATABASE_URL"], "SELECT record_id, route FROM routed_records")
    return {row[0]: row[1] for row in rows} if len(rows) >= count else None


async def notices(system: System, count: int) -> set[str] | None:
    """Routing's notice ids."""
    rows = await fetch(system.env["ROUTING_DATABASE_URL"], "SELECT notice_id FROM notices")
    return {row[0] for row in rows} if len(rows) >= count else None


async def all_delivered(receiver: Receiver, wanted: set[str]) -> bool:
    return wanted <= set(receiver.delivered())


async def all_recorded_delivered(system: System, wanted: set[str]) -> bool:
    """Whether notification's store holds every one of `wanted` as delivered: a push a killed replica made
    but never recorded is then pushed again already, not later (after its claim ran out) into another test."""
    rows = await fetch(
        system.env["NOTIFICATION_DATABASE_URL"], "SELECT notice_id FROM deliveries WHERE state = 'delivered'"
    )
    return wanted <= {row[0] for row in rows}


async def counted(
    http: httpx.AsyncClient, system: System, admin: dict[str, str], count: int, *, reporting: str = "reporting"
) -> dict[str, Any] | None:
    """Baiyun's weekly report from the `reporting` process, once its routes add up to `count`."""
    response = await http.get(
        system.url(reporting) + "/v1/reports/weekly", params={"district": BAIYUN, "week": WEEK}, headers=admin
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report if sum(report["routes"].values()) >= count else None


class Poster(Protocol):
    async def post(self, http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> None: ...


async def steady_load(
    client: Poster, bodies: list[dict[str, Any]], *, rate: float, on_third: asyncio.Event, keys: str
) -> None:
    """POST `bodies` at `rate` a second, each under the Idempotency-Key `<keys>-<n>`; `on_third` is set a third
    of the way in (when a test kills something)."""
    async with httpx.AsyncClient(timeout=30) as http:
        tasks = []
        for index, body in enumerate(bodies):
            if index == len(bodies) // 3:
                on_third.set()
            tasks.append(asyncio.create_task(client.post(http, f"{keys}-{index}", body)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
