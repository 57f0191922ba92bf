"""Wake-ups of the outbox relay that cross replicas: a row stored on any replica wakes the one relay that runs.

A service wakes its relay as soon as it has stored outbox rows, so that an
event leaves within milliseconds rather than at the relay's next poll (a
second). Only one replica's relay runs (shared/db/leader.py); on every other
replica the wake-up reached a relay that was not running, and the rows that
replica stored waited for the leader's poll: with two replicas behind a load
balancer, half the records. PostgreSQL's NOTIFY carries the wake-up over: a
replica whose relay does not run sends one on the table's channel (at most
one in flight, and one a `spacing_s`, however many rows are stored), and the
running relay LISTENs on it. A lost notification costs no row: the poll
still finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import closed_signal, driver_of

log = structlog.get_logger(__name__)

RETRY_S = 2.0  # a listening connection lost (the server restarted) is opened again this long after


class ReplicaWakes:
    def __init__(self, engine: AsyncEngine, table: str, *, spacing_s: float) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._channel = f"popflow_outbox_{table}"
        self._spacing_s = spacing_s
        self._asked = False
        self._sender: asyncio.Task[None] | None = None

    def send(self) -> None:
        """Wake the relay that runs, wherever it runs; returns at once (the rows are stored already)."""
        self._asked = True
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_asked())

    async def _send_asked(self) -> None:
        # a wake-up asked for while one is on its way is sent after it: the rows it announces may have been
        # committed after the relay's pass that the first one started had read the table
        while self._asked:
            self._asked = False
            try:
                async with self._engine.connect() as connection:
                    await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": self._channel})
            except Exception as error:  # the poll finds the rows all the same
                log.warning("outbox wake-up not sent to the relaying replica", error=type(error).__name__)
            await asyncio.sleep(self._spacing_s)

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call `wake` at every wake-up another replica sends, until cancelled; a lost connection is opened again."""
        while True:
            try:
                await self._listen_once(wake)
            except Exception as error:
                log.warning("outbox wake-ups from other replicas not heard", error=type(error).__name__)
            await asyncio.sleep(RETRY_S)

    async def _listen_once(self, wake: Callable[[], None]) -> None:
        async with self._engine.connect() as connection:
            driver = await driver_of(connection)
            try:
                with closed_signal(driver) as closed:
                    await driver.add_listener(self._channel, lambda *_: wake())
                    wake()  # rows announced while nobody listened
                    await closed.wait()
            finally:
                # never back to the pool still listening
                with contextlib.suppress(Exception):
                    await connection.invalidate()
