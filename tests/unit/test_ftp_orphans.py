"""How long a batch file without its manifest has waited, on a platform that answers MDTM with a temporary error
(4xx) for a while: timed from its first listing meanwhile, said once, asked again only after a wait."""

from __future__ import annotations

import ftplib
from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from services.notification.service_layer.ftp_orphans import Orphans

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


async def test_a_file_whose_age_cannot_be_said_now_is_timed_from_its_first_listing_and_said_once() -> None:
    drop = BusyDrop(written=T0 - 10 * DAY)
    orphans = Orphans(drop, DAY)  # type: ignore[arg-type]  # its age is all Orphans asks of its drop
    with capture_logs() as logs:
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
