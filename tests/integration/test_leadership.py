"""One leader per database: replicas of a task run it once, and another takes over when the leader goes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from shared.db import build_engine
from shared.db.leader import Leadership
from tests.support.infra import drop_clients, empty_database, pg_admin_url
from tests.support.replicas import stop_leaders
from tests.support.waiting import eventually


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with empty_database("leader") as url:
        yield url


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
        await stop_leaders(tasks, engines)


async def _restart_of(database: str, *, refusing_s: float) -> None:
    """What a restart of PostgreSQL does to `database`: its connections dropped, new ones refused a while
    (here "too many connections", 53300; a server starting up answers 57P03 alike), then accepted."""
    admin_url = make_url(pg_admin_url()).set(drivername="postgresql")
    admin = await asyncpg.connect(admin_url.render_as_string(hide_password=False))
    try:
        await admin.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT 0')
        try:
            await drop_clients(admin, database)
            await asyncio.sleep(refusing_s)
        finally:  # whatever happened: the database is searched and dropped after the test
            await admin.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT -1')
    finally:
        await admin.close()


async def test_the_leader_leads_again_after_the_database_refused_connections_for_a_while(database_url: str) -> None:
    # a refused reconnection came as a generic DBAPIError, which ended the task for good: no relay ran anywhere
    engine = build_engine(database_url)
    runs: list[int] = []

    async def work() -> None:
        runs.append(1)
        await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(Leadership(engine, "outbox-relay", retry_s=0.1, check_s=0.2).run(work))
    try:
        await eventually(lambda: runs, within=10)
        await _restart_of(make_url(database_url).database or "", refusing_s=1.0)
        await eventually(lambda: len(runs) == 2 or task.done(), within=10)
        assert not task.done(), task.exception()
        assert len(runs) == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.dispose()


class QuietNetwork:
    """A TCP relay to PostgreSQL that can go quiet: it then forwards nothing either way and keeps every
    connection open, as a network partition does (the kernel still acknowledges: no TCP error comes)."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._open = asyncio.Event()
        self._open.set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def go_quiet(self) -> None:
        self._open.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._pipes:
            task.cancel()
        for writer in self._writers:
            writer.transport.abort()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self._target)
        self._writers += [client_writer, server_writer]
        for reader, writer in ((client_reader, server_writer), (server_reader, client_writer)):
            task = asyncio.create_task(self._pipe(reader, writer))
            self._pipes.add(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self._open.wait()
            writer.write(data)
            await writer.drain()


async def test_a_leader_whose_database_stops_answering_stops_its_work(database_url: str) -> None:
    # the watcher's SELECT 1 waited for an answer forever: once the server had let go of the lock (it noticed
    # the peer gone), another replica led while this one went on working beside it, for as long as the quiet
    url = make_url(database_url)
    network = QuietNetwork(url.host or "127.0.0.1", url.port or 5432)
    proxied = build_engine(url.set(host="127.0.0.1", port=await network.start()).render_as_string(hide_password=False))
    direct = build_engine(database_url)
    running: set[str] = set()

    def work_of(replica: str):  # type: ignore[no-untyped-def]
        async def work() -> None:
            running.add(replica)
            try:
                await asyncio.Event().wait()  # until cancelled
            finally:
                running.discard(replica)

        return work

    first = Leadership(proxied, "outbox-relay", retry_s=0.1, check_s=0.2, answer_s=1)
    second = Leadership(direct, "outbox-relay", retry_s=0.1, check_s=0.2)
    tasks = [asyncio.create_task(first.run(work_of("a")))]
    try:
        await eventually(lambda: running == {"a"}, within=10)
        network.go_quiet()
        # the server notices its peer gone (told here, by keepalives or a timeout in life): the lock is free
        admin_url = make_url(pg_admin_url()).set(drivername="postgresql")
        admin = await asyncpg.connect(admin_url.render_as_string(hide_password=False))
        assert url.database is not None
        try:
            await drop_clients(admin, url.database)
        finally:
            await admin.close()
        tasks.append(asyncio.create_task(second.run(work_of("b"))))
        await eventually(lambda: "b" in running, within=10)
        await eventually(lambda: running == {"b"}, within=10)
    finally:
        await network.close()  # what the quiet connections wait on ends now
        await stop_leaders(tasks, (proxied, direct))


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
