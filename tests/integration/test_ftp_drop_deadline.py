"""A stalled FTP platform costs one operation its deadline, not as long as the platform likes (real pyftpdlib).

ftplib waits `timeout` for each answer; a platform under load that answers every
command a little late, within that wait, kept an upload going for as many waits as
it has commands (a dozen for a batch), long past the claim's lease: the messages
were claimed and uploaded again beside it, each upload holding a thread of the
pool that also resolves webhook addresses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.notification.adapters.ftp_drop import MIN_RATE, FtpAccount, FtpDrop
from services.notification.domain.exchange_batch import Batch
from tests.support.ftp_platform import FtpPlatform, password_of

BATCH = Batch(batch_id="b1", file=b"sealed", manifest=b"{}")


@pytest.fixture(scope="module")
def sluggish(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpPlatform]:
    with FtpPlatform(Path(tmp_path_factory.mktemp("sluggish")), ["440106"], reply_delay_s=0.3) as running:
        yield running


def _drop(platform: FtpPlatform, timeout_s: float) -> FtpDrop:
    return FtpDrop(FtpAccount("127.0.0.1", platform.port, "440106", password_of("440106"), timeout_s=timeout_s))


async def test_an_upload_to_a_platform_that_answers_each_command_late_ends_at_its_deadline(
    sluggish: FtpPlatform,
) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await _drop(sluggish, timeout_s=1.5).upload("/440106", BATCH)
    assert time.monotonic() - started < 2.5
    assert not sluggish.path("440106", "b1.manifest.json").exists()  # nothing a reader would take


async def test_a_read_on_one_login_ends_at_its_deadline_too(sluggish: FtpPlatform) -> None:
    """A poll reads a folder's files on one login: each operation gets its own deadline, not the first's."""
    sluggish.path("440106", "b2.batch").write_bytes(b"sealed")
    drop = _drop(sluggish, timeout_s=1.5)
    async with drop.session():
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await drop.read("/440106", ["b2.batch"] * 8, max_bytes=100)
        assert time.monotonic() - started < 2.5


async def test_a_platform_that_answers_in_time_takes_the_whole_upload(sluggish: FtpPlatform) -> None:
    await _drop(sluggish, timeout_s=20.0).upload("/440106", BATCH)
    assert sluggish.path("440106", "b1.manifest.json").read_bytes() == b"{}"


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpPlatform]:
    """A platform whose data channel moves 8 KiB a second: a trickle, well under MIN_RATE."""
    with FtpPlatform(Path(tmp_path_factory.mktemp("narrow")), ["440106"], data_rate=8 << 10) as running:
        yield running


@pytest.fixture(scope="module")
def steady(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpPlatform]:
    """A platform whose data channel moves 256 KiB a second: slow, but faster than MIN_RATE."""
    with FtpPlatform(Path(tmp_path_factory.mktemp("steady")), ["440106"], data_rate=256 << 10) as running:
        yield running


async def test_a_file_that_trickles_in_is_read_no_longer_than_its_data_allows_at_the_least_rate(
    narrow: FtpPlatform,
) -> None:
    """Every block came within the wait for it, so a 96 KiB file took twelve seconds, a 32 MiB batch hours."""
    narrow.path("440106", "slow.batch").write_bytes(b"x" * (96 << 10))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        # 3 s: the platform sends a second's data at once, then waits up to 2 s; each wait is within the timeout
        await _drop(narrow, timeout_s=3.0).read("/440106", ["slow.batch"], max_bytes=1 << 20)
    assert time.monotonic() - started < 3.0 + (96 << 10) / MIN_RATE + 1.0


async def test_a_large_file_moving_steadily_is_read_whole_however_long_that_takes(steady: FtpPlatform) -> None:
    """The deadline is the commands', not the data's: a batch larger than a link carries in `timeout_s` goes
    through, or it would be tried at every poll and never taken."""
    steady.path("440106", "big.batch").write_bytes(b"x" * (1 << 20))  # four seconds and more
    found = await _drop(steady, timeout_s=3.0).read("/440106", ["big.batch"], max_bytes=2 << 20)
    assert found["big.batch"] == b"x" * (1 << 20)
