"""Batch files in our FTP folder whose manifest never came (domain/orphan_batches.py): how long each has waited.

The platform says when a file was written (MDTM); one that does not say is
timed from the poll that first listed the file alone, kept in the database
(adapters/ftp_first_listings.py; a poller without it, in memory alone: after
a restart, or on another replica, the file waited the whole time again), read
once a file a process. So is one whose MDTM fails for now,
for as long as it does: a temporary error (4xx), no answer in time, the
connection reset or closed, an answer MDTM never gives. Said once a run of
failures, and not asked again about that file before a wait (held_back.py:
5 s doubling to 5 min) has passed. Such a failure was a failed file, 'left
for the next poll' at every poll (every 5 s), and the file was never set
aside while it lasted. A permanent error about the file (550: no such file)
is the platform not saying, as the drop answers it (None).

A server without MDTM (it answers 202, 500 or 502: not implemented,
unknown) says so once, and is not asked again while the poller lives: it was
asked about every orphan at every poll, and refused each time. A server's
commands do not change while it runs, and being wrong costs little: an orphan
is timed from its first listing, set aside a day after it at the latest, as
on a platform whose MDTM fails. Not until the next login: the poll logs in
again every 5 s, which would ask again as often.
"""

from __future__ import annotations

import ftplib
import posixpath
import re
from collections import OrderedDict
from datetime import datetime, timedelta

import structlog

from services.notification.adapters.ftp_drop import FTP_ERRORS, FtpDrop, NoMdtm
from services.notification.adapters.ftp_first_listings import FirstListings
from services.notification.domain.held_back import HeldBack
from services.notification.domain.orphan_batches import abandoned, listing_key
from shared.logging import said_safely
from shared.recent import keep_newest

log = structlog.get_logger(__name__)

KEPT = 10_000  # orphans' first listings held in memory at most: past it, the oldest is read again (or timed anew)
PRUNED_EVERY = timedelta(hours=1)
_REPLY_CODE = re.compile(r"[1-5][0-9]{2}")


class Orphans:
    def __init__(
        self, drop: FtpDrop, after: timedelta, *, listings: FirstListings | None = None, key: bytes = b""
    ) -> None:
        """`listings`: where first listings outlast the process, by a digest keyed with `key` (our names' key);
        None, in memory alone."""
        self._drop, self.after, self._listings, self._key = drop, after, listings, key
        self._first_listed: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        self._pruned_at: datetime | None = None
        self._unsaid = HeldBack()  # files whose age the platform could not say now (4xx): not asked before a wait
        self._no_mdtm = False  # the platform said it has no MDTM: not asked again

    async def abandoned(self, folder: str, name: str, now: datetime) -> bool:
        """Whether the batch file `name`, listed without its manifest, has waited longer than `after`: by the
        platform's word, else since we first listed it."""
        first = self._first_listed.get((folder, name)) or await self._first_listing(folder, name, now)
        keep_newest(self._first_listed, (folder, name), first, KEPT)
        written = await self._written_at(folder, name, now)
        return abandoned(written or first, now, self.after)

    async def _written_at(self, folder: str, name: str, now: datetime) -> datetime | None:
        """When the platform says `name` was written; None when it does not say, or cannot now (said once)."""
        path = posixpath.join(folder, name)
        if self._no_mdtm or self._unsaid.waiting(path, now):
            return None
        try:
            written = await self._drop.written_at(folder, name)
        except NoMdtm as none:
            self._no_mdtm = True
            log.info(
                "ftp platform does not say when a file was written; orphans timed from their first listing",
                error=none.code,
            )
            return None
        except FTP_ERRORS as failure:  # a 5xx is no failure here: the drop says None, the platform does not say
            step = self._unsaid.failed(path, now)
            if step is not None and step.failures == 1:
                log.warning(
                    "ftp file's age not said for now; timed from its first listing",
                    folder=folder,
                    file=said_safely(name),
                    error=_said(failure),
                )
            return None
        self._unsaid.succeeded(path)
        return written

    async def _first_listing(self, folder: str, name: str, now: datetime) -> datetime:
        """When `name` was first listed alone, by this poller or one before it; `now` for a file new to us all."""
        if self._listings is None:
            return now
        if self._pruned_at is None or now - self._pruned_at >= PRUNED_EVERY:
            await self._listings.prune(now - 2 * self.after - PRUNED_EVERY)
            self._pruned_at = now
        return await self._listings.first_listed(listing_key(folder, name, self._key), now)

    async def gone(self, folder: str, name: str) -> None:
        """`name` was dealt with (set aside, or moved where its batch went): no longer timed."""
        self._first_listed.pop((folder, name), None)
        self._unsaid.succeeded(posixpath.join(folder, name))
        if self._listings is not None:
            await self._listings.forget(listing_key(folder, name, self._key))


def _said(failure: BaseException) -> str:
    """A reply's code (its text is the platform's, never quoted), else the failure's type (TimeoutError, EOFError)."""
    code = str(failure)[:3] if isinstance(failure, ftplib.Error) else ""
    return code if _REPLY_CODE.fullmatch(code) else type(failure).__name__
