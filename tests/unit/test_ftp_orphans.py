"""How long a batch file without its manifest has waited, on a platform that answers MDTM with a temporary error
(4xx) for a while: timed from its first listing meanwhile, said once, asked again only after a wait."""

from __future__ import annotations

import ftplib
from datetime import UTC, datetime, timedelta

import pytest

from services.notification.adapters.ftp_drop import NoMdtm
from services.notification.service_layer import ftp_orphans
from services.notification.service_layer.ftp_orphans import Orphans
from tests.support.logs import logged_by

T0 = datetime(2027, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


class BusyDrop:
    """A platform whose MDTM answers 450 while `busy`, else that the file was written `written`."""

    def __init__(self, written: datetime) -> None:
        self.written, self.busy, self.asked = written, True, 0

    async def written_at(self, folder: str, name: str) -> datetime | None:
        self.asked += 1
        if self.busy:
            raise ftplib.error_temp("450 Busy, try again later.")  # noqa: S321 - the reply ftplib raises, no connection
        return self.written


async def test_a_file_whose_age_cannot_be_said_now_is_timed_from_its_first_listing_and_said_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drop = BusyDrop(written=T0 - 10 * DAY)
    orphans = Orphans(drop, DAY)  # type: ignore[arg-type]  # its age is all Orphans asks of its drop
    with logged_by(monkeypatch, ftp_orphans) as logs:
        polls = [T0 + timedelta(seconds=5 * n) for n in range(100)]  # every 5 s for a little over 8 min
        assert [await orphans.abandoned("/440106", "a.batch", now) for now in polls] == [False] * 100
        assert await orphans.abandoned("/440106", "a.batch", T0 + DAY + timedelta(seconds=1))
    assert [e["event"] for e in logs] == ["ftp file's age not said for now; timed from its first listing"]
    assert drop.asked < 10  # 5 s, 10, 20, ... up to 5 min between questions, not one a poll


async def test_once_the_platform_says_again_its_word_counts() -> None:
    drop = BusyDrop(written=T0 - 10 * DAY)
    orphans = Orphans(drop, DAY)  # type: ignore[arg-type]
    assert not await orphans.abandoned("/440106", "a.batch", T0)
    drop.busy = False
    assert not await orphans.abandoned("/440106", "a.batch", T0 + timedelta(seconds=1))  # its wait: not asked
    assert await orphans.abandoned("/440106", "a.batch", T0 + timedelta(seconds=5))


class BrokenDrop:
    """A platform whose MDTM fails otherwise than with a 4xx while `broken`: no answer in time, the connection reset
    or closed, an answer MDTM never gives."""

    def __init__(self, written: datetime, error: Exception) -> None:
        self.written, self.error, self.broken, self.asked = written, error, True, 0

    async def written_at(self, folder: str, name: str) -> datetime | None:
        self.asked += 1
        if self.broken:
            raise self.error
        return self.written


FAILURES = [
    (TimeoutError("timed out"), "TimeoutError"),
    (ConnectionResetError(104, "Connection reset by peer"), "ConnectionResetError"),
    (EOFError(), "EOFError"),
    (ftplib.error_reply("350 Ready for what?"), "350"),  # noqa: S321 - the reply ftplib raises, no connection
    (ftplib.error_proto("garbled"), "error_proto"),  # noqa: S321
]


@pytest.mark.parametrize(("error", "said"), FAILURES)
async def test_a_file_whose_age_fails_otherwise_is_timed_from_its_first_listing_and_said_once(
    error: Exception, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a failure propagated as a failed file: 'ftp file left for the next poll' at every poll (every 5 s) for
    as long as it lasted, and the file was never set aside."""
    drop = BrokenDrop(T0 - 10 * DAY, error)
    orphans = Orphans(drop, DAY)  # type: ignore[arg-type]
    with logged_by(monkeypatch, ftp_orphans) as logs:
        polls = [T0 + timedelta(seconds=5 * n) for n in range(100)]
        assert [await orphans.abandoned("/440106", "a.batch", now) for now in polls] == [False] * 100
        assert await orphans.abandoned("/440106", "a.batch", T0 + DAY + timedelta(seconds=1))
    assert [(e["event"], e["error"]) for e in logs] == [
        ("ftp file's age not said for now; timed from its first listing", said)
    ]
    assert drop.asked < 10  # the 4xx's waits: 5 s, 10, 20, ... up to 5 min


async def test_a_file_whose_age_is_said_again_and_then_fails_again_is_said_once_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drop = BrokenDrop(T0 - timedelta(hours=1), TimeoutError("timed out"))
    orphans = Orphans(drop, DAY)  # type: ignore[arg-type]
    with logged_by(monkeypatch, ftp_orphans) as logs:
        assert not await orphans.abandoned("/440106", "a.batch", T0)
        assert not await orphans.abandoned("/440106", "a.batch", T0 + timedelta(seconds=1))  # its wait
        drop.broken = False
        assert not await orphans.abandoned("/440106", "a.batch", T0 + timedelta(seconds=5))  # an hour old: it says
        drop.broken = True
        for n in range(2, 20):
            assert not await orphans.abandoned("/440106", "a.batch", T0 + timedelta(seconds=5 * n))
    assert [e["event"] for e in logs] == ["ftp file's age not said for now; timed from its first listing"] * 2


class PlatformWithoutMdtm:
    """A platform whose MDTM says of no file when it was written (NoMdtm), or of this file only (None: 550)."""

    def __init__(self, *, no_mdtm: bool) -> None:
        self.no_mdtm, self.asked = no_mdtm, 0

    async def written_at(self, folder: str, name: str) -> datetime | None:
        self.asked += 1
        if self.no_mdtm:
            raise NoMdtm("502")
        return None


async def test_a_platform_without_mdtm_is_asked_once_and_its_orphans_timed_from_their_first_listing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It was asked about every orphan at every poll (every 5 s), and refused each time."""
    drop = PlatformWithoutMdtm(no_mdtm=True)
    orphans = Orphans(drop, DAY)  # type: ignore[arg-type]
    with logged_by(monkeypatch, ftp_orphans) as logs:
        for n in range(100):
            for name in ("a.batch", "b.batch"):
                assert not await orphans.abandoned("/440106", name, T0 + timedelta(seconds=5 * n))
        assert await orphans.abandoned("/440106", "a.batch", T0 + DAY + timedelta(seconds=1))
    assert drop.asked == 1
    assert [(e["event"], e["error"]) for e in logs] == [
        ("ftp platform does not say when a file was written; orphans timed from their first listing", "502")
    ]


async def test_a_file_the_platform_says_nothing_of_is_asked_about_again_at_the_next_poll() -> None:
    """A 550 (no such file) is that file's, as before: not the platform's having no MDTM."""
    drop = PlatformWithoutMdtm(no_mdtm=False)
    orphans = Orphans(drop, DAY)  # type: ignore[arg-type]
    for n in range(3):
        assert not await orphans.abandoned("/440106", "a.batch", T0 + timedelta(seconds=5 * n))
    assert drop.asked == 3


class StoredListings:
    """The database's first listings (adapters/ftp_first_listings.py), in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, datetime] = {}
        self.pruned: list[datetime] = []

    async def first_listed(self, file_key: str, now: datetime) -> datetime:
        return self.rows.setdefault(file_key, now)

    async def forget(self, file_key: str) -> None:
        self.rows.pop(file_key, None)

    async def prune(self, before: datetime) -> None:
        self.pruned.append(before)
        self.rows = {key: at for key, at in self.rows.items() if at >= before}


async def test_an_orphans_first_listing_outlasts_a_restart_of_the_poller() -> None:
    """In memory alone, a restart (or another replica taking over the poll) timed it from the start again: on a
    platform without MDTM, a poller restarted daily never set it aside."""
    stored, key = StoredListings(), b"k" * 32
    before = Orphans(PlatformWithoutMdtm(no_mdtm=True), DAY, listings=stored, key=key)  # type: ignore[arg-type]
    assert not await before.abandoned("/440106", "a.batch", T0)

    after = Orphans(PlatformWithoutMdtm(no_mdtm=True), DAY, listings=stored, key=key)  # type: ignore[arg-type]
    assert not await after.abandoned("/440106", "a.batch", T0 + timedelta(hours=23))
    assert await after.abandoned("/440106", "a.batch", T0 + DAY + timedelta(seconds=1))
    assert all("a.batch" not in row for row in stored.rows)  # keyed digests, never the sender's name
    await after.gone("/440106", "a.batch")
    assert stored.rows == {}


async def test_first_listings_of_files_gone_otherwise_are_pruned_once_an_hour() -> None:
    stored = StoredListings()
    orphans = Orphans(PlatformWithoutMdtm(no_mdtm=True), DAY, listings=stored, key=b"k")  # type: ignore[arg-type]
    for n in range(3):
        await orphans.abandoned("/440106", f"{n}.batch", T0 + timedelta(minutes=30 * n))
    assert stored.pruned == [
        T0 - 2 * DAY - timedelta(hours=1),
        T0 + timedelta(minutes=60) - 2 * DAY - timedelta(hours=1),
    ]
