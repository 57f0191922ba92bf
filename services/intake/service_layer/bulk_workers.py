"""Bulk rows prepared in worker processes: validated, sealed and their event built beside the event loop.

Preparing a row (the record's rules, its stored parts sealed, the
RecordSubmitted envelope and its one seal) is about half of a bulk import's CPU; in a
thread it shares the GIL with everything else. With INTAKE_BULK_WORKERS
above 0, chunks of rows go to that many processes, started once (forkserver:
nothing of the serving process, its threads or its connections, is copied)
when the service starts and kept until it stops. Each
loads the directory and the keyring itself. A chunk comes back as `Ready`
rows (the new record and its envelope's JSON) and rejections, so the event
loop only reads the file, stores and answers.

Until a worker has loaded (the first seconds after the service starts, or
after a pool broke) an import's chunks are prepared in the service's own
process, as with no workers, rather than waiting for them; the chunks after
that go to the workers.

A worker that dies (killed, out of memory) breaks the pool: the chunks it
held are prepared in the service's own process instead, a new pool starts,
and chunks go to it once it has loaded. Workers that fail to load (a keyring
that does not open, memory) are logged (the error's type) and a new pool is
tried RETRY_LOAD_S later; meanwhile chunks are prepared in process. An error
inside a worker comes back as its type alone: nothing of a row (personal
data) travels in its message.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import structlog

from services.intake.adapters.tables import KeyKind
from services.intake.service_layer.submissions import Prepared, Ready, Rejected, Submissions, fingerprint
from shared.auth import Principal

log = structlog.get_logger(__name__)

# (row number, the record read, or the row's problem)
RowIn = tuple[int, Any, str | None]
RowOut = tuple[int, Ready | Rejected]
WATCH_S = 1.0  # how often a worker checks that the service is still there
RETRY_LOAD_S = 60.0  # after workers failed to load: not a new pool (and an error line) for every chunk
STOP_WAIT_S = 10.0  # how long a stopping service waits for its workers to finish the chunks they hold


class WorkerFailed(RuntimeError):
    """A chunk failed inside a worker process; the message is the error's type only."""


def prepare_rows(submissions: Submissions, rows: list[RowIn], principal: Principal, key: str | None) -> list[RowOut]:
    """Each row ready to store (its envelope built) or rejected: the same rules in a worker or in process."""
    prepared: list[RowOut] = []
    for number, record, problem in rows:
        if problem is not None:
            # a row that is no record (not JSON, cells past the header) has no body to tell it by: under a key,
            # its place in the file does, so the file sent again is the same rejection, counted once
            told = fingerprint({"bulk_row": f"{key}#{number}", "problem": problem}) if key else ""
            prepared.append((number, Rejected([((), problem)], fingerprint=told)))
            continue
        raw = {k: v for k, v in record.items() if k != "_errors"} if isinstance(record, dict) else record
        # a row's key apart from any single POST's (KeyKind), so a POST under "abc#3" is not row 3 of "abc"
        row_key = f"{key}#{number}" if key else None
        item = submissions.prepare(raw, principal, idempotency_key=row_key, key_kind=KeyKind.BULK_ROW)
        prepared.append((number, submissions.ready(item) if isinstance(item, Prepared) else item))
    return prepared


class BulkWorkers:
    """A pool of `size` worker processes, started by `start` (or by `available` once one broke); `make`
    builds a worker's Submissions (it is pickled to each worker: a module-level function, or a partial of one)."""

    def __init__(self, size: int, make: Callable[[], Submissions], *, submissions: Submissions) -> None:
        self.size = size
        self._make = make
        self._submissions = submissions  # the service's own: for chunks a lost worker held
        self._pool: ProcessPoolExecutor | None = None
        self._loading: list[Future[bool]] = []  # one per worker started by `start`: done once it has loaded
        self._retry_at = 0.0  # monotonic time before which a pool that failed to load is not replaced
        self._closed = False  # closed (the service stopping): no pool is started again until `start`

    async def prepare(self, rows: list[RowIn], principal: Principal, key: str | None) -> list[RowOut]:
        """The chunk prepared by a worker; in process while none has loaded, or once the pool broke."""
        if not self.available():
            return await self._in_process(rows, principal, key)
        pool = self._pool
        assert pool is not None, "available() answers yes for a pool that has loaded"
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _in_worker, rows, principal, key)
        except (BrokenProcessPool, asyncio.CancelledError) as error:
            current = asyncio.current_task()
            if isinstance(error, asyncio.CancelledError) and current is not None and current.cancelling():
                raise  # the import itself is cancelled (its caller went away), not the pool
            log.warning("bulk worker process lost; its rows are prepared in process", rows=len(rows))
            self._discard(pool)  # another import may have seen it break first, and started the next pool
            return await self._in_process(rows, principal, key)

    def start(self) -> None:
        """Start every worker now (in the background), so the first import does not wait for them to load."""
        self._closed = False
        self._start_pool()

    def _start_pool(self) -> None:
        # not once closed: an import still unwinding at the stop prepares its rows in process, and leaves no
        # pool behind the service's last wait for its workers
        if self._pool is None and not self._closed:
            self._pool = ProcessPoolExecutor(
                self.size,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_worker,
                initargs=(self._make, os.getpid()),
            )
            self._loading = [self._pool.submit(_loaded) for _ in range(self.size)]

    def available(self) -> bool:
        """Whether a worker has loaded, so an import may use them. With no pool (it broke), a new one is
        started in the background and the answer is no; one whose every worker failed to load is replaced
        RETRY_LOAD_S later."""
        if self._pool is not None and self._loading and all(f.done() for f in self._loading) and not self.loaded():
            failed = next((f.exception() for f in self._loading if not f.cancelled() and f.exception()), None)
            log.error("bulk workers failed to load; rows are prepared in process", error=type(failed).__name__)
            self._discard(self._pool)
            self._retry_at = time.monotonic() + RETRY_LOAD_S
        if time.monotonic() >= self._retry_at:
            self._start_pool()
        return self.loaded()

    def loaded(self) -> bool:
        """Whether a worker of the current pool has loaded."""
        return any(f.done() and not f.cancelled() and f.exception() is None and f.result() for f in self._loading)

    def shown(self) -> dict[str, object]:
        """For /readyz: how many workers, and whether imports use them yet."""
        return {"bulk_workers": {"size": self.size, "loaded": self.loaded()}}

    async def close(self) -> None:
        """Stop the workers (the service is stopping), and wait until they are gone: STOP_WAIT_S here at most.

        Waiting frees the pool's queues now, and with them their named semaphores. A service stopped by a signal
        ends without Python's exit handlers (shared/serving.py raises the signal again), so semaphores left to
        those were removed by multiprocessing's resource tracker instead, which warned of them as leaked. A
        worker still busy after STOP_WAIT_S ends with the service on SIGTERM; on Ctrl-C the interpreter's own
        exit still joins the pool, as it did before this wait."""
        self._closed = True
        pool = self._pool
        if pool is None:
            return
        self._pool, self._loading = None, []
        try:
            await asyncio.wait_for(asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True), STOP_WAIT_S)
        except TimeoutError:  # a chunk still running: on SIGTERM the workers end with the service (`_end_with`)
            log.warning("bulk workers still busy at stop", waited_s=STOP_WAIT_S)

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is pool:
            self._pool, self._loading = None, []
        pool.shutdown(wait=False, cancel_futures=True)

    async def _in_process(self, rows: list[RowIn], principal: Principal, key: str | None) -> list[RowOut]:
        return await asyncio.to_thread(prepare_rows, self._submissions, rows, principal, key)


_worker: Submissions | None = None


def _start_worker(make: Callable[[], Submissions], service_pid: int) -> None:
    global _worker
    # a Ctrl-C or a hang-up (a terminal closing signals the whole process group) stops the service, which
    # stops its workers; with several web workers a hang-up is the supervisor's rolling restart instead
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(service_pid,), daemon=True).start()
    _worker = make()


def _end_with(service_pid: int) -> None:
    """Exit once the service process is gone, however it ended: a worker holds both ends of its task
    queue's pipe, so it would otherwise wait for tasks for ever (and keep the forkserver alive)."""
    while True:
        time.sleep(WATCH_S)
        try:
            os.kill(service_pid, 0)
        except ProcessLookupError:
            os._exit(0)


def _loaded() -> bool:
    return _worker is not None


def _in_worker(rows: list[RowIn], principal: Principal, key: str | None) -> list[RowOut]:
    assert _worker is not None, "started by _start_worker"
    try:
        return prepare_rows(_worker, rows, principal, key)
    except Exception as error:
        raise WorkerFailed(type(error).__name__) from None
