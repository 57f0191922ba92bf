"""Batch files in our FTP folder whose manifest never came (domain/orphan_batches.py): how long each has waited.

The platform says when a file was written (MDTM); one that does not say is
timed from the poll that first listed the file alone, in memory (after a
restart it waits the whole time again).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from services.notification.adapters.ftp_drop import FtpDrop
from services.notification.domain.orphan_batches import abandoned
from shared.recent import keep_newest

KEPT = 10_000  # orphans timed from their first listing at most: past it, the oldest is timed anew


class Orphans:
    def __init__(self, drop: FtpDrop, after: timedelta) -> None:
        self._drop, self.after = drop, after
        self._first_listed: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    async def abandoned(self, folder: str, name: str, now: datetime) -> bool:
        """Whether the batch file `name`, listed without its manifest, has waited longer than `after`."""
        written = await self._drop.written_at(folder, name)
        if written is None:
            written = self._first_listed.get((folder, name)) or now
            keep_newest(self._first_listed, (folder, name), written, KEPT)
        return abandoned(written, now, self.after)

    def gone(self, folder: str, name: str) -> None:
        """`name` was set aside: no longer timed."""
        self._first_listed.pop((folder, name), None)
