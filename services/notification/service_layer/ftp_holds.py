"""What the FTP poller holds back after a failure, apart from the rest: a folder of ours that did not list, and
the batches of a sender whose folder did not take our acknowledgement.

Read at every poll (5 s), such a sender's batch was downloaded and applied
again, as duplicates, and the failure logged, every five seconds for as long
as it lasted. Each now waits (domain/held_back.py: 5 s, doubling to 5 min),
said once a wait; other folders and senders are read as usual. In memory: after
a restart, each is tried once more at the first poll.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

import structlog

from services.notification.adapters.ftp_drop import FTP_ERRORS, FtpDrop
from services.notification.domain.held_back import KEPT, HeldBack
from services.notification.service_layer.exchange_acks import Acknowledgements
from shared.recent import keep_newest

log = structlog.get_logger(__name__)

UNLISTED_LONGEST_WAIT = timedelta(minutes=1)


class Holds:
    def __init__(self, drop: FtpDrop, acks: Acknowledgements | None) -> None:
        self._drop, self._acks = drop, acks
        # folders of ours that did not list: the platform down, most likely. A listing is one cheap command, so the
        # wait stops at a minute: after a long outage, partners' batches are read a minute after it ends at most
        self._unlisted = HeldBack(longest=UNLISTED_LONGEST_WAIT)
        self._held: OrderedDict[tuple[str, str], str] = OrderedDict()  # (folder, manifest): its sender, held back

    async def listed(self, folder: str, now: datetime) -> list[str]:
        """The names in our `folder`; none while it is held back after a listing that failed (not on the
        platform yet, say)."""
        if self._unlisted.waiting(folder, now):
            return []
        try:
            names = await self._drop.names(folder)
        except FTP_ERRORS as error:
            if step := self._unlisted.failed(folder, now):
                log.warning(
                    "ftp folder not listed; tried again after a wait",
                    folder=folder,
                    error=type(error).__name__,
                    failures=step.failures,
                    wait_s=step.wait_s(now),
                )
            return []
        if run := self._unlisted.succeeded(folder):
            log.info("ftp folder listed again", folder=folder, failures=run.failures, since=run.since)
        return names

    def waits(self, folder: str, name: str, now: datetime) -> bool:
        """Whether `name` is a batch whose sender is held back now: not read before its wait has passed."""
        partner = self._held.get((folder, name))
        return partner is not None and self._acks is not None and self._acks.waiting(partner, now)

    def sender_waits(self, partner: str, now: datetime) -> bool:
        """Whether acknowledgements to `partner` are held back: a batch of its, new to us, is not read further."""
        return self._acks is not None and self._acks.waiting(partner, now)

    def hold(self, folder: str, name: str, partner: str) -> None:
        """The batch `name` waits with its sender `partner`, whose folder did not take our acknowledgement."""
        keep_newest(self._held, (folder, name), partner, KEPT)

    def done(self, folder: str, name: str) -> None:
        """`name` was taken or set aside: nothing of it waits."""
        self._held.pop((folder, name), None)
