"""One leader per database: replicas of a task run it once, and another takes over when the leader goes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from shared.db import build_engine
from shared.db.leader import Leadership
from tests.support.infra import create_database, drop_database, unique_name
from tests.support.waiting import eventually


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    name = unique_name("leader")
    url = await create_database(name)
    yield url
    await drop_database(name)


async def test_only_one_replica_runs_the_task_and_another_takes_over(database_url: str) -> None:
    engines = [build_engine(database_url) for _ in range(2)]
    running: list[int] = []

    def work_of(replica: int):  # type: ignore[no-untyped-def]
        async def work() -> None:
            running.append(replica)
            await asyncio.Event().wait()  # until cancelled

        return work

    leaders = [Leadership(engine, "outbox-relay", retry_s=0.1, check_s=0.2) for engine in engines]
    tasks = [asyncio.create_task(leader.run(work_of(i))) for i, leader in enumerate(leaders)]
    try:
        await eventually(lambda: running, within=10)  # one leads once its connection is up, however long that takes
        await asyncio.sleep(0.5)  # the other tries every 0.1 s meanwhile: a second leader would show
        assert len(running) == 1
        first = running[0]
        tasks[first].cancel()  # the leader goes away; its lock goes with its connection
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[first]
        await eventually(lambda: len(running) == 2, within=10)
        assert running == [first, 1 - first]
        assert leaders[1 - first].leading
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for engine in engines:
            await engine.dispose()


async def test_different_tasks_lead_independently(database_url: str) -> None:
    engine = build_engine(database_url)
    started: list[str] = []

    async def work(name: str) -> None:
        started.append(name)

    try:
        await Leadership(engine, "reminders").run(lambda: work("reminders"))
        await Leadership(engine, "weekly-export").run(lambda: work("weekly-export"))
        assert started == ["reminders", "weekly-export"]
    finally:
        await engine.dispose()
