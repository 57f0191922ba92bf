"""The FTP exchange's threads (adapters/ftp_threads.py): daemon threads, so a stopping process never waits for a
stalled operation; and an operation's deadline counts from when it was asked for, its wait for a thread included
(adapters/ftp_drop.py), so that an upload queued behind stalled ones does not outlast its push's lease."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.notification.adapters import ftp_drop
from services.notification.adapters.ftp_drop import FtpAccount, FtpDrop
from services.notification.adapters.ftp_threads import FtpThreads

ROOT = Path(__file__).resolve().parents[2]


def test_work_runs_on_daemon_threads_and_gives_its_result_or_its_error() -> None:
    threads = FtpThreads(2, "ftp")
    try:
        assert threads.submit(lambda: threading.current_thread().daemon).result() is True
        assert threads.submit(threading.current_thread).result().name.startswith("ftp_")
        with pytest.raises(ZeroDivisionError):
            threads.submit(lambda: 1 / 0).result()
    finally:
        threads.shutdown()


def test_no_more_threads_start_than_it_has_and_work_waits_in_order() -> None:
    threads, release, done = FtpThreads(2, "ftp"), threading.Event(), list[int]()
    stalled = [threads.submit(release.wait) for _ in range(2)]
    waiting = [threads.submit(done.append, n) for n in range(3)]
    assert not any(future.done() for future in waiting)
    release.set()
    for future in stalled + waiting:
        future.result()
    assert done == [0, 1, 2]
    assert len(threads._threads) == 2
    threads.shutdown()


def test_a_stop_cancels_what_waits_and_does_not_wait_for_a_stalled_operation() -> None:
    threads, release = FtpThreads(1, "ftp"), threading.Event()
    stalled = threads.submit(release.wait)
    waiting = threads.submit(lambda: "never run")
    threads.shutdown(wait=False, cancel_futures=True)  # returns with the operation still stalled
    assert waiting.cancelled()
    assert stalled.running()
    with pytest.raises(RuntimeError):
        threads.submit(lambda: None)
    release.set()
    assert stalled.result() is True


def test_a_process_stopping_during_a_stalled_operation_exits_without_waiting_for_it() -> None:
    """ThreadPoolExecutor's threads are joined at the interpreter's exit, shut down or not: this process, its
    operation stalled for ever, would never have exited (and a stalled FTP operation held one for up to 30 s)."""
    script = (
        "import threading\n"
        "from services.notification.adapters.ftp_threads import FtpThreads\n"
        "threads = FtpThreads(8, 'ftp')\n"
        "started = threading.Event()\n"
        "threads.submit(lambda: (started.set(), threading.Event().wait()))\n"
        "started.wait()\n"
        "threads.shutdown(wait=False, cancel_futures=True)\n"
        "print('stopped')\n"
    )
    # the timeout only ends a test that would otherwise hang: a process that exits is what is asserted
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    ended = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert (ended.returncode, ended.stdout) == (0, "stopped\n"), ended.stderr


async def test_an_operations_deadline_counts_from_when_it_was_asked_for_not_from_when_a_thread_took_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counted from the thread's start, an upload that waited 45 s behind stalled ones then had 30 s more: its
    push's lease (an operation's 30 s and a margin) lapsed, and the push was taken up and uploaded again."""
    now = [1000.0]
    monkeypatch.setattr(ftp_drop, "time", SimpleNamespace(monotonic=lambda: now[0]))
    given: list[float] = []

    def connect(drop: FtpDrop, deadline: float) -> None:
        given.append(deadline)
        raise TimeoutError("the ftp operation outlasted its deadline")

    monkeypatch.setattr(FtpDrop, "_connect", connect)
    threads, release = FtpThreads(1, "ftp"), threading.Event()
    busy = threads.submit(release.wait)  # a stalled folder's upload holds the only thread
    drop = FtpDrop(FtpAccount("127.0.0.1", 21, "440106", "secret", timeout_s=30), threads=threads)
    listing = asyncio.create_task(drop.names("/440106"))
    await asyncio.sleep(0)  # asked for now, at 1000
    now[0] += 45  # the thread freed 45 s later
    release.set()
    with pytest.raises(TimeoutError):
        await listing
    assert busy.result() is True
    assert given == [1030.0]
    threads.shutdown()


async def test_a_poll_cancelled_during_a_stalled_operation_ends_without_waiting_for_it() -> None:
    """The poll has one thread of its own, and its session's connection was dropped on it when the poll ended:
    cancelled (the service stopping, or its leadership lost) while an operation stalled, the poll waited for that
    operation's end (up to its 30 s) before it could end, and the service's stop with it."""
    threads, started, release = FtpThreads(1, "ftp-poll"), threading.Event(), threading.Event()
    drop = FtpDrop(FtpAccount("127.0.0.1", 21, "440106", "secret"), threads=threads)

    def stalled() -> None:
        started.set()
        release.wait()

    async def poll() -> None:
        async with drop.session():
            await drop._blocking(stalled)

    polling = asyncio.create_task(poll())
    try:
        await asyncio.to_thread(started.wait)
        polling.cancel()
        # the wait only ends a test that would otherwise hang until the stalled operation ends: the poll ending
        # while that operation is still stalled is what is asserted
        done, _ = await asyncio.wait({polling}, timeout=120)
        assert polling in done
        assert polling.cancelled()
        assert not release.is_set()
    finally:
        release.set()
        threads.shutdown()
