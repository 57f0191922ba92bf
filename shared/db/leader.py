"""One active leader per database for work that must not run twice (outbox relay, schedules).

Replicas of a service all start the same background tasks; wrapped in
`Leadership`, a task runs only in the replica that holds a PostgreSQL
advisory lock named after it. The lock lives with the holder's connection:
when that replica dies its connection closes, the lock is released and
another replica takes over within `retry_s` and `takeover_s`. The server dropping the lock's
connection (an admin's `pg_terminate_backend`, a firewall's reset) frees the
lock at once, so the leader stops as soon as its driver sees the connection
closed, not at its next check. The server frees a session's locks as its
backend exits, a moment before the socket closes, and on a busy box a
replica waiting for the lock can take it before the old leader's driver has
seen the close: a replica that found the lock taken waits `takeover_s` after
it gets it, by which time the old leader has seen the close and stopped,
unless its event loop was held up longer than that (fail-over takes that much
longer; a replica that finds the lock free at once leads at once).
It also asks its connection every `check_s`
whether it is still there and waits `answer_s` for the answer: a connection
gone quiet (a network partition) may have lost the lock on the server's side
already, so the work stops then as it does on a broken one. The server, for
its part, gives up on a silent leader (its host powered off or cut off)
`SERVER_GIVES_UP` times those seconds after it last heard from it, later
than the leader stops by itself: the lock's connection sets its server-side
keepalives and user timeout so (by the server's defaults, the kernel's two
hours and more, no replica could lead meanwhile).
SQLite is one process's store, so there the task simply runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.background import woken_or_after
from shared.db.engine import closed_signal, driver_of
from shared.db.errors import is_unavailable

log = structlog.get_logger(__name__)

Work = Callable[[], Awaitable[None]]

# the server lets go of a silent leader's lock after this many times the longest a leader takes to notice the
# silence itself (`check_s + answer_s`): the leader has stopped its work by then, with time to spare
SERVER_GIVES_UP = 2


def lost_the_database(error: BaseException) -> bool:
    """The lock's connection failed (the lock is gone with it), or no new one could be had just now: stop, and
    try to lead again later.

    `is_unavailable` is the store's own test: a dropped or refused connection, SQLAlchemy's OperationalError
    and InterfaceError, and, by its SQLSTATE, a database starting up (57P03) or full (53300), which reaches
    SQLAlchemy as a generic DBAPIError. Any OSError of the socket counts too (a watcher's TimeoutError).
    """
    return isinstance(error, OSError) or is_unavailable(error)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Leadership:
    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        *,
        retry_s: float = 2.0,
        check_s: float = 5.0,
        answer_s: float = 5.0,
        takeover_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._name = name
        self._key = lock_key(name)
        self._retry_s = retry_s
        self._check_s = check_s
        self._answer_s = answer_s
        self._takeover_s = takeover_s
        self._found_taken = False  # another replica held the lock when this one tried: a lock had now is a takeover
        self.leading = False

    def wrap(self, work: Work) -> Work:
        """`work`, run only while this replica leads."""

        async def run() -> None:
            await self.run(work)

        return run

    async def run(self, work: Work) -> None:
        if self._engine.dialect.name != "postgresql":
            await work()
            return
        while True:
            try:
                if await self._lead_once(work):
                    return  # the work ended by itself
            except Exception as error:
                if not lost_the_database(error):
                    raise
                log.warning("leadership lost", task=self._name, error=type(error).__name__)
            self.leading = False
            await asyncio.sleep(self._retry_s)

    async def _lead_once(self, work: Work) -> bool:
        """True when this replica led and the work ended; False when another replica leads."""
        async with self._engine.connect() as connection:
            # before the lock, so that a refusal of them cannot leave it taken (a lock outlives its transaction)
            await connection.execute(_GIVE_UP_ON_SILENCE, self._silence_settings())
            held = (await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})).scalar()
            await connection.commit()
            if not held:
                self._found_taken = True
                return False
            try:
                if self._found_taken:
                    # the lock was another replica's, which may not have seen its connection close yet (the
                    # module's doc); within the try, so that a stop meanwhile lets go of the lock
                    await asyncio.sleep(self._takeover_s)
                    self._found_taken = False
                    if (await driver_of(connection)).is_closed():  # lost meanwhile: the lock with it
                        raise ConnectionResetError("the leader lock's connection closed")
                self.leading = True
                log.info("leading", task=self._name)
                await _while_connected(connection, work, self._check_s, self._answer_s)
                return True
            finally:
                await self._let_go(connection)

    def _silence_settings(self) -> dict[str, str]:
        """The lock's connection's keepalives: the server checks a peer silent for as long as the leader takes to
        notice a silence, then every second or so, and gives up (dropping the connection, and the lock with it)
        `SERVER_GIVES_UP` times that long after it last heard from the leader. `tcp_user_timeout` bounds the
        same wait when the server's own last answer is what went unacknowledged (Linux; elsewhere the count)."""
        noticed_s = math.ceil(self._check_s + self._answer_s)
        gives_up_s = SERVER_GIVES_UP * noticed_s
        return {
            "idle": str(noticed_s),
            "interval": "1",
            "count": str(max(1, gives_up_s - noticed_s)),
            "user_timeout": str(gives_up_s * 1000),
        }

    async def _let_go(self, connection: AsyncConnection) -> None:
        """Release the lock; a connection that does not answer in time is closed instead, taking the lock
        with it, rather than waited on for ever or given back to the pool still holding the lock."""
        try:
            async with asyncio.timeout(self._answer_s):
                await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                await connection.commit()
        except BaseException as error:
            # a second cancellation (a stop) during the unlock too: never back to the pool holding the lock
            with contextlib.suppress(Exception):
                await connection.invalidate()
            if not isinstance(error, Exception):
                raise


# set for the session, not a transaction: the settings hold while the connection, and the lock, do
_GIVE_UP_ON_SILENCE = text(
    "SELECT set_config('tcp_keepalives_idle', :idle, false), set_config('tcp_keepalives_interval', :interval, false),"
    " set_config('tcp_keepalives_count', :count, false), set_config('tcp_user_timeout', :user_timeout, false)"
)


async def _while_connected(connection: AsyncConnection, work: Work, check_s: float, answer_s: float) -> None:
    """Run `work` until it ends or the lock's connection fails or goes quiet, whichever comes first."""
    worker = asyncio.ensure_future(work())
    watcher = asyncio.ensure_future(_watch(connection, check_s, answer_s))
    try:
        done, _ = await asyncio.wait({worker, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (worker, watcher):
            task.cancel()
        for task in (worker, watcher):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    for task in done:
        task.result()  # the work's own error, or the watcher's connection error


async def _watch(connection: AsyncConnection, check_s: float, answer_s: float) -> None:
    """Return never; raise once the lock's connection closed (at once: the server let go of the lock with it, and
    another replica may lead within its retry) or stopped answering."""
    driver = await driver_of(connection)
    with closed_signal(driver) as closed:
        while not driver.is_closed():
            await woken_or_after(closed, check_s)
            if closed.is_set():
                break
            # no answer within `answer_s` is a lost connection (TimeoutError): the server may have let go of the
            # lock already (it noticed its peer gone) and another replica lead, while this one waited for ever
            async with asyncio.timeout(answer_s):
                await connection.execute(text("SELECT 1"))
                await connection.commit()
    raise ConnectionResetError("the leader lock's connection closed")
