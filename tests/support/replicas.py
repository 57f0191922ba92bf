"""Two replicas of every service on one deployment: starting them, finding which one leads, and a client
that posts to whichever intake replica is alive, as an integrator behind a load balancer would."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.routing import fetch
from tests.support.system import SERVICES, System


def start_two_of_each(system: System) -> None:
    """The first replicas start (and are ready) first, so they take the leaders' locks; then the second ones."""
    for replica in (1, 2):
        names = [system.start(service, wait=False, replica=replica) for service in SERVICES]
        for name in names:
            system.wait_ready(name)


async def leaders(system: System, service: str) -> set[str]:
    """application_name (host:pid) of the connections holding advisory locks in the service's database."""
    rows = await fetch(
        system.env[f"{service.upper()}_DATABASE_URL"],
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()",
    )
    return {row[0] for row in rows}


def pid_of(system: System, name: str) -> str:
    """How a process's pid ends its connections' application_name."""
    return f":{system.processes[name].pid}"


async def led_by(system: System, service: str, name: str) -> bool:
    """Whether the process `name` (e.g. `intake-2`) holds a leader's lock in the service's database."""
    return any(held.endswith(pid_of(system, name)) for held in await leaders(system, service))


class Client:
    """Posts each record under its own Idempotency-Key to the live intake replicas in turn; a request whose
    replica died under it (or whose connection failed) is sent again, same key, to the next one."""

    def __init__(self, system: System, headers: dict[str, str], live: list[str]) -> None:
        self.system, self.headers, self.live = system, headers, live
        self.turn = itertools.count()
        self.answers: dict[str, str] = {}  # idempotency key -> record id
        self.posted_at: dict[str, float] = {}  # record id -> monotonic time of its 202
        self.resent = 0

    async def post(self, http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> None:
        for _attempt in range(10):
            replica = self.live[next(self.turn) % len(self.live)]
            try:
                response = await http.post(
                    self.system.url(replica) + "/v1/records", json=body, headers=self.headers | {"Idempotency-Key": key}
                )
            except httpx.TransportError:
                self.resent += 1
                await asyncio.sleep(0.2)
                continue
            assert response.status_code == 202, response.text
            self.answers[key] = response.json()["record_id"]
            self.posted_at[self.answers[key]] = time.monotonic()
            return
        raise AssertionError(f"record {key} not accepted by any of {self.live}")


async def stop_leaders(tasks: Iterable[asyncio.Task[Any]], engines: Iterable[AsyncEngine]) -> None:
    """End the replicas' leadership tasks (cancelled, each awaited) and then their engines, as a test's cleanup."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for engine in engines:
        await engine.dispose()
