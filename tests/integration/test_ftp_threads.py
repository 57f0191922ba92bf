"""FTP work runs on the exchange's own few threads, not the loop's default executor (which the webhook sender's
address look-ups use: a slow platform held them all), and those threads are shut down when the service stops.

Notification composed as its bootstrap composes it, with our folder on a real FTP server (pyftpdlib); its
lifespan stands in for the real one (no database, no Kafka: only what the composition root adds around it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.cli import catalogue
from services.notification import bootstrap
from services.notification.adapters.ftp_drop import FtpAccount, FtpDrop
from services.notification.adapters.ftp_first_listings import FirstListings
from services.notification.adapters.ftp_threads import FtpThreads
from services.notification.domain.exchange_ack import Outcome
from services.notification.service_layer.exchange_ftp_inbound import FtpPoller
from shared.background import BackgroundTask
from tests.support.ftp_platform import FtpPlatform, password_of


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpPlatform]:
    with FtpPlatform(Path(tmp_path_factory.mktemp("ftp-threads")), ["440106"]) as running:
        yield running


class DefaultExecutor(ThreadPoolExecutor):
    """The loop's default executor, noting what is given to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=2, thread_name_prefix="default")
        self.given: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.given.append(repr(fn)[:120])
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def composed(platform: FtpPlatform, monkeypatch: pytest.MonkeyPatch) -> tuple[FastAPI, FtpPoller]:
    """The app, and the FTP poller its composition root made."""
    background: list[BackgroundTask] = []

    def lifespan_of(*_: Any, background: Sequence[BackgroundTask] = ()) -> Any:
        composed_tasks.extend(background)

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            yield

        return lifespan

    composed_tasks = background  # what the composition root hands its lifespan
    monkeypatch.setattr(bootstrap, "lifespan_of", lifespan_of)
    settings = catalogue.test_settings("notification").model_copy(
        update={
            "exchange_ftp_host": "127.0.0.1",
            "exchange_ftp_port": platform.port,
            "exchange_ftp_user": "440106",
            "exchange_ftp_password": SecretStr(password_of("440106")),
            "exchange_ftp_folders": ["/440106"],
        }
    )
    app = bootstrap.create_app(settings)  # type: ignore[arg-type]  # the catalogue's NotificationSettings
    [poll] = [task for task in background if task.name == "ftp-poll"]
    poller = poll.run.__self__  # type: ignore[attr-defined]  # the poller's bound run
    assert isinstance(poller, FtpPoller)
    return app, poller


async def test_ftp_work_runs_on_its_own_threads_not_on_the_loops_default_executor(
    platform: FtpPlatform, composed: tuple[FastAPI, FtpPoller], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, poller = composed
    on: list[str] = []
    real_connect = FtpDrop._connect

    def connect(drop: FtpDrop, deadline: float) -> Any:
        on.append(threading.current_thread().name)
        return real_connect(drop, deadline)

    monkeypatch.setattr(FtpDrop, "_connect", connect)
    default = DefaultExecutor()
    asyncio.get_running_loop().set_default_executor(default)

    assert await poller.poll_once() == 0  # its folder listed: the poll's own drop
    assert default.given == []
    outbound = poller._acks._outbound  # type: ignore[union-attr]  # what uploads use
    account = FtpAccount("127.0.0.1", platform.port, "440106", password_of("440106"))
    assert await poller._acks._drop(account).names("/440106") == []  # type: ignore[union-attr]  # acknowledgements'
    assert await outbound._batcher._drop(account).names("/440106") == []

    assert default.given == []
    assert len(on) == 3
    assert all(name.startswith("ftp") for name in on), on


async def test_the_ftp_threads_are_shut_down_when_the_service_stops(composed: tuple[FastAPI, FtpPoller]) -> None:
    app, poller = composed
    outbound = poller._acks._outbound  # type: ignore[union-attr]
    every = [poller._drop._threads, outbound._ftp_threads]
    assert all(isinstance(threads, FtpThreads) for threads in every)
    async with app.router.lifespan_context(app):
        assert not any(threads.stopped for threads in every)  # type: ignore[union-attr]
    assert all(threads.stopped for threads in every)  # type: ignore[union-attr]


async def test_ftp_work_runs_on_daemon_threads_so_a_stopping_process_does_not_wait_for_a_stalled_one(
    platform: FtpPlatform, composed: tuple[FastAPI, FtpPoller], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ThreadPoolExecutor's threads are joined at the interpreter's exit, shut down or not: a service stopped
    while the platform stalled waited up to an operation's 30 s."""
    _, poller = composed
    daemon: list[bool] = []
    real_connect = FtpDrop._connect

    def connect(drop: FtpDrop, deadline: float) -> Any:
        daemon.append(threading.current_thread().daemon)
        return real_connect(drop, deadline)

    monkeypatch.setattr(FtpDrop, "_connect", connect)
    await poller.poll_once()
    account = FtpAccount("127.0.0.1", platform.port, "440106", password_of("440106"))
    await poller._acks._outbound.ftp_drop(account).names("/440106")  # type: ignore[union-attr]
    assert daemon == [True, True]


async def test_the_poll_of_our_folders_is_not_held_up_by_stalled_uploads(composed: tuple[FastAPI, FtpPoller]) -> None:
    """Shared with the uploads, the poll waited for a thread behind uploads to eight stalled partners' folders
    (each up to its 30 s, then the next ones), what partners sent us unread meanwhile."""
    _, poller = composed
    uploads = poller._acks._outbound._ftp_threads  # type: ignore[union-attr]
    assert isinstance(uploads, FtpThreads)
    release = threading.Event()
    stalled = [uploads.submit(release.wait) for _ in range(bootstrap.exchange.FTP_THREADS)]
    try:
        poll = asyncio.ensure_future(poller.poll_once())
        # the wait only ends a test that would otherwise hang until the stalled uploads end: the poll ending is
        # what is asserted, while every upload thread is stalled
        done, _ = await asyncio.wait({poll}, timeout=120)
        assert not any(upload.done() for upload in stalled)
    finally:
        release.set()
    assert poll in done
    assert poll.result() == 0


def test_the_composed_poller_keeps_its_orphans_first_listings_in_the_database(
    composed: tuple[FastAPI, FtpPoller],
) -> None:
    """So that a restart, or another replica taking over the poll, goes on timing them (ftp_orphans.py)."""
    _, poller = composed
    assert isinstance(poller._orphans._listings, FirstListings)


async def test_the_polls_acknowledgements_are_not_held_up_by_stalled_uploads(
    platform: FtpPlatform, composed: tuple[FastAPI, FtpPoller], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is taken only once its acknowledgement is written (exchange_ftp_inbound.py), and the
    acknowledgements were written on the uploads' threads: with uploads to eight stalled partners' folders, each
    waited its 30 s, failed, and held its sender back, and the poll, on a thread of its own, took nothing."""
    _, poller = composed
    acks = poller._acks
    assert acks is not None
    account = FtpAccount("127.0.0.1", platform.port, "440106", password_of("440106"))
    partner = SimpleNamespace(name="tianhe")
    monkeypatch.setattr(acks, "_partners", lambda: SimpleNamespace(ready_partner_for=lambda code: partner))
    monkeypatch.setattr(acks._outbound, "ftp_route", lambda partner, code: (account, "/440106"))
    monkeypatch.setattr(acks._outbound, "sign", lambda *_: "v1a=signed")
    manifest: dict[str, object] = {"batch_id": "440106-440111-b", "sender": "440106", "recipient": "440111"}
    manifest["sha256"] = "0" * 64
    uploads = acks._outbound._ftp_threads
    assert isinstance(uploads, FtpThreads)
    release = threading.Event()
    stalled = [uploads.submit(release.wait) for _ in range(bootstrap.exchange.FTP_THREADS)]
    try:
        told = asyncio.ensure_future(acks.tell_sender("440106-440111-b", manifest, outcome=Outcome.TAKEN, taken=1))
        # the wait only ends a test that would otherwise hang until the stalled uploads end: the acknowledgement
        # written while every upload thread is stalled is what is asserted
        done, _ = await asyncio.wait({told}, timeout=120)
        assert not any(upload.done() for upload in stalled)
    finally:
        release.set()
    assert told in done
    assert told.result() is None
    assert platform.path("440106", "440106-440111-b.ack.json").is_file()
