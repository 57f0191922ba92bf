"""The leader lock's connection, as the server sees it: what happens to the lock when the leader's host goes
silent, or when the server drops the leader's connection while the leader process runs on."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from shared.db import build_engine
from shared.db.engine import LOOPBACK
from shared.db.leader import Leadership
from tests.support.infra import empty_database, pg_admin_url
from tests.support.replicas import stop_leaders
from tests.support.waiting import eventually

# the lock holder's backend and the port its client connects from
_HOLDER = (
    "SELECT a.pid, a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
    "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = $1"
)


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with empty_database("leaderconn") as url:
        yield url


async def _admin() -> asyncpg.Connection:
    return await asyncpg.connect(make_url(pg_admin_url()).set(drivername="postgresql").render_as_string(False))


async def _holder(database: str) -> tuple[int, int]:
    admin = await _admin()
    try:
        row = await admin.fetchrow(_HOLDER, database)
    finally:
        await admin.close()
    assert row is not None, "nobody holds the lock"
    return int(row["pid"]), int(row["client_port"])


def _keepalive_due_s(server_port: int, client_port: int) -> float:
    """Seconds until the server's kernel next checks that the peer of this connection is still there, from
    `ss -o` (timers shown as `119min`, `9sec`, `8.996ms` for 8 s 996 ms, or `996ms`)."""
    shown = subprocess.run(
        ["ss", "-tnoH", "state", "established", f"( sport = :{server_port} and dport = :{client_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    timer = re.search(r"timer:\(keepalive,([^,]+),", shown)
    assert timer is not None, f"no keepalive timer on the server's side of the connection: {shown!r}"
    parts = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?", timer.group(1))
    assert parts is not None, timer.group(1)
    minutes, seconds, millis = (int(part or 0) for part in parts.groups())
    return minutes * 60 + seconds + millis / 1000


async def test_the_server_gives_up_on_a_silent_leader_within_seconds(database_url: str) -> None:
    # a leader whose host vanished (powered off, cut off by the network) sends nothing more, not even a close:
    # the server kept its connection, and the lock, until its kernel's keepalives gave up, over two hours by
    # Linux's defaults, and no replica could lead meanwhile. The lock's connection now asks the server to check
    # a silent peer soon after the leader itself would have stopped (shared/db/leader.py).
    url = make_url(database_url)
    if url.host not in LOOPBACK or shutil.which("ss") is None:
        pytest.skip("reads the server's socket with ss: needs PostgreSQL on this machine")
    engine = build_engine(database_url)
    leading = asyncio.Event()

    async def work() -> None:
        leading.set()
        await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(Leadership(engine, "outbox-relay").run(work))
    try:
        await asyncio.wait_for(leading.wait(), 10)
        _, client_port = await _holder(url.database or "")
        await asyncio.sleep(0.5)  # the session's settings are applied to the socket as they are set
        assert _keepalive_due_s(url.port or 5432, client_port) <= 20
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.dispose()


async def test_a_leader_whose_lock_connection_the_server_dropped_stops_before_another_leads(database_url: str) -> None:
    # the server dropped the lock's connection (an admin's pg_terminate_backend, a firewall's reset of a connection
    # it found idle) while the leader process ran on: the lock was free at once, another replica led within its
    # retry, and the old leader noticed only at its next check, up to `check_s` later: two relays published
    # the same rows side by side meanwhile
    engines = [build_engine(database_url) for _ in range(2)]
    running: list[str] = []
    both: list[list[str]] = []

    def work_of(replica: str):  # type: ignore[no-untyped-def]
        async def work() -> None:
            running.append(replica)
            if len(running) > 1:
                both.append(list(running))
            try:
                await asyncio.Event().wait()  # until cancelled
            finally:
                running.remove(replica)

        return work

    first, second = (Leadership(engine, "outbox-relay", retry_s=0.1, check_s=5) for engine in engines)
    tasks = [asyncio.create_task(first.run(work_of("a")))]
    try:
        await eventually(lambda: running == ["a"], within=10)
        tasks.append(asyncio.create_task(second.run(work_of("b"))))
        await asyncio.sleep(0.3)  # the second tries every 0.1 s, and waits
        pid, _ = await _holder(make_url(database_url).database or "")
        admin = await _admin()
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        await eventually(lambda: running == ["b"], within=10)
        assert both == []
    finally:
        await stop_leaders(tasks, engines)
