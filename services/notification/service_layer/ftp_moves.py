"""Files the FTP poller has dealt with but could not move out of our folder: at the next poll, only moved.

A batch is taken (its messages applied, its sender acknowledged) or set aside,
then its files move to done/ or set-aside/. When that move fails (the platform
dropped the connection, or our account may not rename there), the files stay
in the folder. Listed again at the next poll, they were taken again: the batch
downloaded and applied again as duplicates, and its sender sent another
acknowledgement, which it sets aside and lists for its bureau; at every poll
for as long as the move failed. Remembered here, they are only moved again.

Each of a move's files is remembered: a move that failed half-way (the
manifest in done/, its batch file not) leaves the batch file listed alone, which
is only moved too, not taken for an orphan (ftp_orphans.py) and set aside.

In memory: after a restart, a batch whose move had failed is taken once more,
as one that was interrupted (docs/exchange.md, "Left out, for now"). A batch
file left behind by a move that failed half-way is then listed alone; once
it has waited an orphan's time, the store's record of its batch sends it
where its manifest went (exchange_ftp_inbound.py), not aside as never finished.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from services.notification.adapters.ftp_drop import FtpDrop
from shared.recent import keep_newest

MAX_REMEMBERED = 10_000  # past this many stuck files, the oldest is forgotten: taken again once, as after a restart


@dataclass(frozen=True, slots=True)
class _Move:
    names: list[str]
    to: str
    note: tuple[str, bytes] | None


class Moves:
    def __init__(self, drop: FtpDrop) -> None:
        self._drop = drop
        self._unmoved: OrderedDict[tuple[str, str], _Move] = OrderedDict()

    async def move(self, folder: str, names: list[str], to: str, *, note: tuple[str, bytes] | None = None) -> None:
        """`names` (the first: the file the poll listed) into `folder/to`; remembered when that fails, which
        propagates."""
        move = _Move(names, to, note)
        try:
            await self._drop.move(folder, names, to, note=note)
        except Exception:
            for name in names:  # the move may have failed half-way: the files left are listed alone
                keep_newest(self._unmoved, (folder, name), move, MAX_REMEMBERED)
            raise
        for name in names:
            self._unmoved.pop((folder, name), None)

    def pending(self, folder: str, name: str) -> bool:
        """Whether the listed file `name` was dealt with, and only its move is left."""
        return (folder, name) in self._unmoved

    async def again(self, folder: str, name: str, listed: set[str]) -> bool:
        """The move that failed for the listed file `name` (any of the move's files), tried again with all of its
        files (those moved already are passed over), remembered still if it fails again. False, with nothing
        tried, when another of its files comes first in `listed` (the folder's listing): that one moves them."""
        move = self._unmoved[(folder, name)]
        if next(n for n in move.names if n in listed or n == name) != name:
            return False
        await self.move(folder, move.names, move.to, note=move.note)
        return True
