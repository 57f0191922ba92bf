"""Which notices failed for good get a log line: a receiver's first, then a count a minute with their ids.

A street office's receiver down for a day ends a round of retries for every
notice sent to it, and a webhook no push can reach (a secret sealed with
another key, a refused address) fails each notice at its first attempt: a
line per notice was thousands of lines a day for one receiver. An operator
needs to know that notices fail for good, to which receiver, why and how
many. Each notice's status is recorded as before (failed in its inbox and in
GET /v1/deliveries/failed); a line names notice ids only, never a person.
What is held is told when the receiver delivers again (`delivered`), or, should
it neither fail nor deliver again (its subscription removed, no more notices
for it), by the worker's next pass once its minute is up (`due`).
Pure: the caller brings the time. Beside failing_receivers.py, which folds
failed attempts; this folds the notices whose round ended failed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.recent import keep_newest

SUMMARY_EVERY = timedelta(minutes=1)
KEPT = 10_000  # receivers remembered at most (a deployment has a few hundred streets and bureaus)
IDS_SHOWN = 20  # notice ids a line names at most; its count holds them all


@dataclass(frozen=True, slots=True)
class Failed:
    count: int  # notices failed for good since the receiver's last line, this one included
    notice_ids: tuple[str, ...]  # the first IDS_SHOWN of them, oldest first
    since: datetime  # when the first of them failed


@dataclass(slots=True)
class _Held:
    said_at: datetime
    notice_ids: list[str] = field(default_factory=list)
    count: int = 0
    since: datetime | None = None


class FailedNotices:
    """Folds a receiver's notices failed for good into a line a minute; one per process (it holds the counts)."""

    def __init__(self, every: timedelta = SUMMARY_EVERY, kept: int = KEPT) -> None:
        self._every = every
        self._kept = kept
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._holding: set[str] = set()  # receivers whose held count is not told yet

    def failed(self, receiver: str, notice_id: str, now: datetime) -> Failed | None:
        """The line to write for this notice, or None when it is counted in the receiver's next one."""
        held = self._held.get(receiver)
        if held is not None and now - held.said_at < self._every:
            held.count += 1
            held.since = held.since or now
            self._held.move_to_end(receiver)  # a receiver failing now is the last to be forgotten past the bound
            if len(held.notice_ids) < IDS_SHOWN:
                held.notice_ids.append(notice_id)
            self._holding.add(receiver)
            return None
        line = _told(held, notice_id, now)
        keep_newest(self._held, receiver, _Held(said_at=now), self._kept)
        self._holding.discard(receiver)
        self._holding &= self._held.keys()  # a receiver forgotten past the bound holds nothing
        return line

    def delivered(self, receiver: str) -> Failed | None:
        """What is held for `receiver`, told as it delivers again; None when nothing is."""
        self._holding.discard(receiver)
        held = self._held.pop(receiver, None)
        if held is None or held.since is None:
            return None
        return Failed(held.count, tuple(held.notice_ids), held.since)

    def due(self, now: datetime) -> list[tuple[str, Failed]]:
        """The held counts whose minute is up, told now, by receiver: they would wait for the receiver's next
        failure or delivery, which may never come."""
        lines = []
        for receiver in sorted(self._holding):
            held = self._held.get(receiver)
            if held is not None and now - held.said_at >= self._every and held.since is not None:
                lines.append((receiver, Failed(held.count, tuple(held.notice_ids), held.since)))
                keep_newest(self._held, receiver, _Held(said_at=now), self._kept)
        self._holding.difference_update(receiver for receiver, _ in lines)
        return lines


def _told(held: _Held | None, notice_id: str, now: datetime) -> Failed:
    if held is None or held.since is None:
        return Failed(1, (notice_id,), now)
    ids = held.notice_ids if len(held.notice_ids) >= IDS_SHOWN else [*held.notice_ids, notice_id]
    return Failed(held.count + 1, tuple(ids), held.since)
