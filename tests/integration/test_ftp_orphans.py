"""A batch file whose manifest never came is set aside once it is older than NOTIFICATION_EXCHANGE_FTP_ORPHAN_AFTER_S
(a day by default), as a refused batch is: moved to set-aside/ with its reason, listed for the bureau, logged once.

The same two deployments as tests/integration/test_ftp_acknowledgements.py (real pyftpdlib, real PostgreSQL);
their clock is a fake one that stands still until a test moves it, and the platform says when a file was written
(MDTM) from its file system, which the tests set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from services.notification.adapters.ftp_drop import FtpAccount, FtpDrop
from services.notification.adapters.ftp_first_listings import FirstListings
from services.notification.domain.set_aside_names import naming_key
from services.notification.service_layer import exchange_ftp_inbound, ftp_orphans
from services.notification.service_layer.exchange_ftp_inbound import FtpPoller
from tests.integration.test_ftp_acknowledgements import (
    ADMIN,
    KEYS,
    Side,
    _emptied,
    _one,
    _send_forward,
    platform,
    sides,
)
from tests.support.ftp_platform import FtpPlatform, password_of
from tests.support.logs import logged_by
from tests.support.notification_fakes import FakeClock
from tests.support.records import id_number

__all__ = ["platform", "sides"]  # the fixtures, used by name


def _clock(side: Side) -> FakeClock:
    clock = side.poller._clock
    assert isinstance(clock, FakeClock)
    return clock


async def _orphan(baiyun: Side, platform: FtpPlatform) -> Path:
    """Baiyun's batch, uploaded, whose manifest is then lost: as if Baiyun stopped between its two files."""
    _emptied(platform)
    await _send_forward(baiyun)
    _one(platform.path("440106"), "*.manifest.json").unlink()
    return _one(platform.path("440106"), "*.batch")


def _written(file: Path, clock: FakeClock, hours_ago: float) -> None:
    moment = (clock.now() - timedelta(hours=hours_ago)).timestamp()
    os.utime(file, (moment, moment))


async def test_a_batch_file_without_its_manifest_is_set_aside_after_a_day_and_said_once(
    sides: dict[str, Side],
    platform: FtpPlatform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It stayed in the partner's folder for ever: never read (readers look at manifests), never listed."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    orphan = await _orphan(baiyun, platform)
    clock = _clock(tianhe)

    _written(orphan, clock, hours_ago=23)  # its manifest may still come
    assert await tianhe.poller.poll_once() == 0
    assert orphan.exists()
    assert await tianhe.set_aside() == {}

    _written(orphan, clock, hours_ago=25)
    with logged_by(monkeypatch, ftp_orphans, exchange_ftp_inbound) as logs:
        assert await tianhe.poller.poll_once() == 1
        assert await tianhe.poller.poll_once() == 0
    assert not orphan.exists()
    assert (platform.path("440106", "set-aside") / orphan.name).exists()
    why = platform.path("440106", "set-aside", orphan.name + ".reason.txt").read_text()
    assert why.startswith("batch file without its manifest for more than 24 h")
    assert (await tianhe.set_aside())[orphan.name] == why.strip()
    said = [e for e in logs if e["event"] == "ftp file set aside"]
    assert [e["file"] for e in said] == [orphan.name]
    assert list(platform.path("440111").glob("*.ack.json")) == []  # no one's signed word names it: no one told


@dataclass
class NoMdtm:
    answer: str  # what the platform answers MDTM with
    asked: list[str] = field(default_factory=list)  # the files it was asked about, in order


@pytest.fixture(params=["502 Command not implemented.", "500 Command not understood."])
def no_mdtm(platform: FtpPlatform, request: pytest.FixtureRequest) -> Iterator[NoMdtm]:
    """A platform that does not say when a file was written: it has no MDTM."""
    handler, platform_says = platform._server.handler, NoMdtm(request.param)

    def refuses(self: object, path: str) -> None:
        platform_says.asked.append(path)
        self.respond(platform_says.answer)  # type: ignore[attr-defined]

    handler.ftp_MDTM = refuses
    try:
        yield platform_says
    finally:
        del handler.ftp_MDTM


async def test_on_a_platform_that_does_not_say_when_a_file_was_written_an_orphan_is_timed_from_its_first_listing(
    sides: dict[str, Side], platform: FtpPlatform, no_mdtm: NoMdtm
) -> None:
    baiyun, tianhe = sides["440111"], sides["440106"]
    orphan = await _orphan(baiyun, platform)
    clock = _clock(tianhe)
    _written(orphan, clock, hours_ago=100)  # not seen: the platform does not say

    assert await tianhe.poller.poll_once() == 0
    clock.advance(86_400)
    assert await tianhe.poller.poll_once() == 0
    assert orphan.exists()
    clock.advance(1)
    assert await tianhe.poller.poll_once() == 1
    assert (platform.path("440106", "set-aside") / orphan.name).exists()


async def test_a_platform_without_mdtm_is_asked_once_not_about_every_orphan_at_every_poll(
    sides: dict[str, Side], platform: FtpPlatform, no_mdtm: NoMdtm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was asked about each orphan at every poll (every 5 s), and refused each time."""
    tianhe = sides["440106"]
    _emptied(platform)
    for name in ("440111-a.batch", "440111-b.batch"):
        platform.path("440106", name).write_bytes(b"sealed, whatever it holds")
    clock = _clock(tianhe)

    with logged_by(monkeypatch, ftp_orphans) as logs:
        for _ in range(5):
            assert await tianhe.poller.poll_once() == 0
            clock.advance(3600)
        clock.advance(86_400 - 5 * 3600 + 1)  # a day and a second after their first listing
        assert await tianhe.poller.poll_once() == 2
    assert len(no_mdtm.asked) == 1
    [said] = [e for e in logs if e["event"].startswith("ftp platform does not say")]
    assert said["error"] == no_mdtm.answer[:3]


async def test_a_504_for_one_file_does_not_turn_mdtm_off_for_every_file(
    sides: dict[str, Side], platform: FtpPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """504 is "not implemented for that parameter": a server may say it of one file's name. It turned MDTM off for
    every file until a restart."""
    tianhe = sides["440106"]
    _emptied(platform)
    platform.path("440106", "440111-a.batch").write_bytes(b"sealed, whatever it holds")
    asked: list[str] = []

    def refuses(self: object, path: str) -> None:
        asked.append(path)
        self.respond("504 Command not implemented for that parameter.")  # type: ignore[attr-defined]

    handler = platform._server.handler
    handler.ftp_MDTM = refuses
    try:
        with logged_by(monkeypatch, ftp_orphans) as logs:
            for _ in range(3):
                assert await tianhe.poller.poll_once() == 0
                _clock(tianhe).advance(3600)
    finally:
        del handler.ftp_MDTM
    assert len(asked) == 3  # the file asked about again at each poll: its own answer, not the platform's
    assert not [e for e in logs if e["event"].startswith("ftp platform does not say")]


async def test_an_orphan_named_with_personal_data_is_listed_and_noted_in_its_safe_form(
    sides: dict[str, Side], platform: FtpPlatform
) -> None:
    """A file's name is whatever its writer chose: an orphan named with an identity number and a name was listed for
    the bureau (its table, its note in set-aside/) as it was, personal data kept in clear in our store."""
    tianhe = sides["440106"]
    _emptied(platform)
    person = id_number(sequence=13)
    orphan = platform.path("440106", f"440111-{person}-张三\x1b[2J.batch")
    orphan.write_bytes(b"sealed, whatever it holds")
    _written(orphan, _clock(tianhe), hours_ago=25)

    assert await tianhe.poller.poll_once() == 1

    listed = await tianhe.set_aside()
    [(file, reason)] = listed.items()
    noted = next(platform.path("440106", "set-aside").glob("*.reason.txt"))
    note = noted.read_text()
    for kept in (file, reason, note, noted.name):  # the note's name too: a file name we write
        assert person not in kept
        assert "张三" not in kept
        assert "\x1b" not in kept
    assert file.startswith("440111-")  # still tells the bureau whose folder prefix it bore
    assert reason.startswith("batch file without its manifest")
    assert (platform.path("440106", "set-aside") / orphan.name).exists()  # the file itself moved as it was named


async def test_an_orphan_whose_name_is_long_in_bytes_is_set_aside_with_a_note_the_platform_takes(
    sides: dict[str, Side], platform: FtpPlatform
) -> None:
    """A name of 250 bytes in a script said_safely keeps (a star: 3 bytes) gave a note of 261, which the platform's
    file system refuses: the set-aside failed, and was tried again at every poll for ever."""
    tianhe = sides["440106"]
    _emptied(platform)
    orphan = platform.path("440106", "440111-" + "\u2605" * 79 + ".batch")
    orphan.write_bytes(b"sealed, whatever it holds")
    _written(orphan, _clock(tianhe), hours_ago=25)

    assert await tianhe.poller.poll_once() == 1

    assert (platform.path("440106", "set-aside") / orphan.name).exists()
    noted = next(platform.path("440106", "set-aside").glob("*.reason.txt"))
    assert len(noted.name.encode()) <= 255 - len("..part")  # it was written as .<note>.part first
    [file] = await tianhe.set_aside()
    assert noted.name == file + ".reason.txt"  # the entry names its note, cut as it is and its digest kept
    assert await tianhe.poller.poll_once() == 0  # nothing left to move


async def test_a_late_manifest_set_aside_after_its_orphan_keeps_the_orphan_and_its_note(
    sides: dict[str, Side], platform: FtpPlatform
) -> None:
    """The manifest that came after its batch file was set aside is set aside too, with the same stem: its note
    replaced the orphan's `<batch>.reason.txt`, and its move, replacing same names in set-aside/, deleted the
    orphan's batch file there. Both files and both notes stay; both are listed, each with its own reason."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    manifest = _one(platform.path("440106"), "*.manifest.json")
    late, orphan = manifest.read_bytes(), _one(platform.path("440106"), "*.batch")
    manifest.unlink()
    _written(orphan, _clock(tianhe), hours_ago=25)
    assert await tianhe.poller.poll_once() == 1  # the orphan set aside

    manifest.write_bytes(late)  # its sender finished the upload, a day late
    assert await tianhe.poller.poll_once() == 1

    aside = platform.path("440106", "set-aside")
    assert sorted(p.name for p in aside.iterdir()) == sorted(
        [
            orphan.name,
            orphan.name + ".reason.txt",
            manifest.name,
            manifest.name.removesuffix(".manifest.json") + ".reason.txt",
        ]
    )
    kept_for = (aside / (orphan.name + ".reason.txt")).read_text()
    assert kept_for.startswith("batch file without its manifest for more than 24 h")
    late_for = (aside / manifest.name.replace(".manifest.json", ".reason.txt")).read_text()
    assert late_for.startswith("batch file set aside here before its manifest came")
    listed = await tianhe.set_aside()
    batch = manifest.name.removesuffix(".manifest.json")
    assert listed == {orphan.name: kept_for.strip(), batch: late_for.strip()}
    await baiyun.poller.poll_once()
    [failed] = await baiyun.failed()  # its sender is told why, and its bureau redelivers
    assert failed["last_error"] == f"tianhe set the batch aside: {late_for.strip()}"


async def test_an_orphans_sender_is_listed_as_its_file_name_says_it_unverified_a_signed_manifests_as_verified(
    sides: dict[str, Side], platform: FtpPlatform
) -> None:
    """An orphan was listed with the district its name begins with as its `sender`, as a signed manifest's sender
    is: anyone may name a file so, and an operator took it for the sender."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    manifest = _one(platform.path("440106"), "*.manifest.json")
    late, orphan = manifest.read_bytes(), _one(platform.path("440106"), "*.batch")
    manifest.unlink()
    _written(orphan, _clock(tianhe), hours_ago=25)
    await tianhe.poller.poll_once()
    manifest.write_bytes(late)  # signed by Baiyun's key
    await tianhe.poller.poll_once()

    rows = {row["file"]: row for row in (await tianhe.overview.partners(ADMIN))["set_aside"]}
    batch = manifest.name.removesuffix(".manifest.json")
    said = {file: (row["sender"], row["sender_verified"], row["partner"]) for file, row in rows.items()}
    assert said == {orphan.name: ("440111", False, None), batch: ("440111", True, "baiyun")}


@pytest.fixture
def mdtm_busy(platform: FtpPlatform) -> Iterator[dict[str, bool]]:
    """A platform that answers MDTM with a temporary error (4xx) while `busy["now"]`: it cannot say now when a file
    was written."""
    handler, busy = platform._server.handler, {"now": True}
    says = handler.ftp_MDTM
    handler.ftp_MDTM = lambda self, path: (
        self.respond("450 Busy, try again later.") if busy["now"] else says(self, path)
    )
    try:
        yield busy
    finally:
        del handler.ftp_MDTM


async def test_an_orphan_whose_age_the_platform_cannot_say_now_is_said_once_and_set_aside_from_its_first_listing(
    sides: dict[str, Side],
    platform: FtpPlatform,
    mdtm_busy: dict[str, bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 4xx propagated as a failed file: 'ftp file left for the next poll' at every poll (every 5 s), and the
    orphan was never set aside while the platform answered so."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    orphan = await _orphan(baiyun, platform)
    clock = _clock(tianhe)
    _written(orphan, clock, hours_ago=100)  # not seen: the platform does not say now

    with logged_by(monkeypatch, ftp_orphans, exchange_ftp_inbound) as logs:
        for _ in range(4):
            assert await tianhe.poller.poll_once() == 0
            clock.advance(3600)
        clock.advance(86_400 - 4 * 3600 + 1)  # a day and a second after its first listing
        assert await tianhe.poller.poll_once() == 1
    assert (platform.path("440106", "set-aside") / orphan.name).exists()
    said = [e["event"] for e in logs if e["log_level"] in ("warning", "error")]
    assert said == ["ftp file's age not said for now; timed from its first listing", "ftp file set aside"]
    [unsaid] = [e for e in logs if e["event"].startswith("ftp file's age not said")]
    assert (unsaid["file"], unsaid["error"]) == (orphan.name, "450")


async def test_an_orphan_whose_age_the_platform_said_late_is_set_aside_once_it_says_it(
    sides: dict[str, Side], platform: FtpPlatform, mdtm_busy: dict[str, bool]
) -> None:
    baiyun, tianhe = sides["440111"], sides["440106"]
    orphan = await _orphan(baiyun, platform)
    clock = _clock(tianhe)
    _written(orphan, clock, hours_ago=100)

    assert await tianhe.poller.poll_once() == 0
    mdtm_busy["now"] = False  # the platform says again: a file written 100 h ago
    assert await tianhe.poller.poll_once() == 0  # not asked again before its wait (5 s) has passed
    clock.advance(5)
    assert await tianhe.poller.poll_once() == 1
    assert (platform.path("440106", "set-aside") / orphan.name).exists()


async def test_two_orphans_whose_names_differ_only_in_personal_data_keep_a_note_each_and_are_listed_apart(
    sides: dict[str, Side], platform: FtpPlatform
) -> None:
    """Their safe forms are one name: the second's note in set-aside/ replaced the first's, and the bureau's list
    showed two entries it could not tell apart. Each keeps its own note, listed under the same name, and neither
    name nor note holds what was masked."""
    tianhe = sides["440106"]
    _emptied(platform)
    people = [id_number(sequence=21), id_number(sequence=22)]
    names = [f"440111-{people[0]}.batch", f"440111-{people[1]}.batch", "440111-张三.batch", "440111-李四.batch"]
    for name in names:
        orphan = platform.path("440106", name)
        orphan.write_bytes(b"sealed, whatever it holds")
        _written(orphan, _clock(tianhe), hours_ago=25)

    assert await tianhe.poller.poll_once() == 4

    aside = platform.path("440106", "set-aside")
    notes = sorted(p.name for p in aside.glob("*.reason.txt"))
    assert len(notes) == 4
    listed = [row["file"] for row in (await tianhe.overview.partners(ADMIN))["set_aside"]]
    assert sorted(file + ".reason.txt" for file in listed) == notes  # each entry names its own note
    for kept in [*notes, *listed, *(p.read_text() for p in aside.glob("*.reason.txt"))]:
        assert not any(person in kept for person in people)
        assert "张三" not in kept
        assert "李四" not in kept
    assert sorted(p.name for p in aside.glob("*.batch")) == sorted(names)  # the files themselves, as named


@pytest.fixture(params=["closed", "350"])
def mdtm_broken(platform: FtpPlatform, request: pytest.FixtureRequest) -> Iterator[dict[str, bool]]:
    """A platform whose MDTM fails otherwise than with a 4xx while `broken["now"]`: it closes the connection, or
    answers what MDTM never answers (350)."""
    handler, broken = platform._server.handler, {"now": True}
    says = handler.ftp_MDTM

    def fails(self: object, path: str) -> None:
        if not broken["now"]:
            says(self, path)
        elif request.param == "closed":
            self.close()  # type: ignore[attr-defined]
        else:
            self.respond("350 Ready for what?")  # type: ignore[attr-defined]

    handler.ftp_MDTM = fails
    try:
        yield broken
    finally:
        del handler.ftp_MDTM


async def test_an_orphan_whose_age_fails_otherwise_is_said_once_and_set_aside_from_its_first_listing(
    sides: dict[str, Side],
    platform: FtpPlatform,
    mdtm_broken: dict[str, bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The failure propagated as a failed file: 'ftp file left for the next poll' at every poll (every 5 s), and the
    orphan was never set aside while it lasted."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    orphan = await _orphan(baiyun, platform)
    clock = _clock(tianhe)
    _written(orphan, clock, hours_ago=1)  # not seen while it fails: timed from its first listing

    with logged_by(monkeypatch, ftp_orphans, exchange_ftp_inbound) as logs:
        for _ in range(20):
            assert await tianhe.poller.poll_once() == 0
            clock.advance(5)
        clock.advance(86_400 - 20 * 5 + 1)  # a day and a second after its first listing
        assert await tianhe.poller.poll_once() == 1
    assert (platform.path("440106", "set-aside") / orphan.name).exists()
    said = [e["event"] for e in logs if e["log_level"] in ("warning", "error")]
    assert said == ["ftp file's age not said for now; timed from its first listing", "ftp file set aside"]


async def test_an_orphan_whose_age_is_said_again_is_timed_by_the_platform_once_more(
    sides: dict[str, Side], platform: FtpPlatform, mdtm_broken: dict[str, bool]
) -> None:
    baiyun, tianhe = sides["440111"], sides["440106"]
    orphan = await _orphan(baiyun, platform)
    clock = _clock(tianhe)
    _written(orphan, clock, hours_ago=100)

    assert await tianhe.poller.poll_once() == 0
    mdtm_broken["now"] = False  # the platform says again: a file written 100 h ago
    clock.advance(5)
    assert await tianhe.poller.poll_once() == 1
    assert (platform.path("440106", "set-aside") / orphan.name).exists()


def _left_behind(moved_to: Path, platform: FtpPlatform) -> tuple[Path, Path]:
    """The batch file of a batch dealt with, back in our folder: as a move that failed half-way left it (the
    manifest moved, not its file), which a restarted poller no longer remembers (ftp_moves.py). Where it was, where
    it is now."""
    moved = _one(moved_to, "*.batch")
    left = platform.path("440106", moved.name)
    moved.rename(left)
    return moved, left


async def test_a_batch_file_left_behind_by_a_taken_batch_goes_to_done_not_aside_as_never_finished(
    sides: dict[str, Side], platform: FtpPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day later (at once, by its MDTM) it was set aside as a batch whose sender never finished the upload, and
    listed for the bureau so, though its messages were applied and its sender acknowledged."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    assert await tianhe.poller.poll_once() == 1
    moved, left = _left_behind(platform.path("440106", "done"), platform)
    _written(left, _clock(tianhe), hours_ago=25)

    with logged_by(monkeypatch, exchange_ftp_inbound) as logs:
        assert await tianhe.poller.poll_once() == 1
    assert moved.exists()
    assert not left.exists()
    assert list(platform.path("440106").glob("set-aside/*")) == []
    assert await tianhe.set_aside() == {}
    assert [e["event"] for e in logs if e["log_level"] in ("warning", "error")] == []


async def test_a_batch_file_left_behind_by_a_batch_set_aside_joins_it_not_listed_again(
    sides: dict[str, Side], platform: FtpPlatform
) -> None:
    """It was set aside a second time, as never finished, with a note of that reason beside the batch's own."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    batch_file = _one(platform.path("440106"), "*.batch")
    batch_file.write_bytes(batch_file.read_bytes()[:-10])  # truncated on the platform
    assert await tianhe.poller.poll_once() == 1
    aside = platform.path("440106", "set-aside")
    listed = await tianhe.set_aside()
    moved, left = _left_behind(aside, platform)
    _written(left, _clock(tianhe), hours_ago=25)

    assert await tianhe.poller.poll_once() == 1
    assert moved.exists()
    assert not left.exists()
    assert await tianhe.set_aside() == listed
    [note] = aside.glob("*.reason.txt")
    assert note.read_text().startswith("batch file differs from its manifest")


def _as_composed(side: Side, platform: FtpPlatform) -> FtpPoller:
    """The side's poller as notification's bootstrap builds it: orphans' first listings in its database, its
    names' key from its sealing key (the same after a restart). A second one is the poller restarted, or another
    replica taking over the poll."""
    poller = side.poller
    return FtpPoller(
        drop=FtpDrop(FtpAccount("127.0.0.1", platform.port, side.code, password_of(side.code))),
        folders=[f"/{side.code}"],
        door=poller._door,
        store=poller._store,
        clock=poller._clock,
        interval_s=1.0,
        max_age_s=86_400,
        acks=poller._acks,
        names_key=naming_key(KEYS[side.code]["sealing_key"]),
        first_listings=FirstListings(poller._store._sessions),
    )


async def test_on_a_platform_without_mdtm_an_orphans_wait_goes_on_after_a_restart(
    sides: dict[str, Side], platform: FtpPlatform, no_mdtm: NoMdtm
) -> None:
    """Its first listing was in memory alone: a poller restarted (or another replica leading the poll) timed it from
    the start again, and one restarted daily never set it aside."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    orphan = await _orphan(baiyun, platform)
    clock = _clock(tianhe)

    assert await _as_composed(tianhe, platform).poll_once() == 0
    clock.advance(86_400 - 3600)
    restarted = _as_composed(tianhe, platform)
    assert await restarted.poll_once() == 0
    clock.advance(3601)  # a day and a second after the first poller first listed it
    assert await restarted.poll_once() == 1
    assert (platform.path("440106", "set-aside") / orphan.name).exists()


async def test_a_batch_files_first_listing_is_forgotten_once_its_batch_is_taken(
    sides: dict[str, Side], platform: FtpPlatform, no_mdtm: NoMdtm
) -> None:
    """Its first listing (alone, its manifest not yet there) stayed until pruned, two days on: a file of that name
    listed alone again was timed from the old listing, and moved at once."""
    baiyun, tianhe = sides["440111"], sides["440106"]
    _emptied(platform)
    await _send_forward(baiyun)
    manifest = _one(platform.path("440106"), "*.manifest.json")
    held = manifest.read_bytes()
    manifest.unlink()
    clock = _clock(tianhe)
    assert await tianhe.poller.poll_once() == 0  # the batch file listed alone: its first listing
    clock.advance(23 * 3600)
    manifest.write_bytes(held)  # its manifest comes late
    assert await tianhe.poller.poll_once() == 1  # taken
    taken = _one(platform.path("440106", "done"), "*.batch")
    again = platform.path("440106", taken.name)
    again.write_bytes(taken.read_bytes())  # the same name, alone again (its sender uploads it once more, say)
    clock.advance(2 * 3600)  # 25 h after the first listing, 2 h after this one

    assert await tianhe.poller.poll_once() == 0
    assert again.exists()  # waits its own day
