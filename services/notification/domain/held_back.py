"""What the FTP poller holds back after a failure: a partner whose folder refuses our acknowledgement, a folder
of ours that cannot be listed. Each waits longer after each failure, apart from the others, until it succeeds.

Tried at every poll (5 s), a partner's folder that refused our acknowledgement
had its batch downloaded and applied again, as duplicates, and the refusal
logged, every five seconds for as long as it lasted. The waits double from
FIRST_WAIT up to LONGEST_WAIT, and one line is worth writing per wait (a
step), not per batch or poll. Pure: the caller brings the time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.recent import keep_newest

FIRST_WAIT = timedelta(seconds=5)
LONGEST_WAIT = timedelta(minutes=5)
KEPT = 10_000  # held back at most (a city has a few dozen districts): past it, the longest quiet is forgotten


def wait_after(failures: int, first: timedelta = FIRST_WAIT, longest: timedelta = LONGEST_WAIT) -> timedelta:
    """How long to wait after the `failures`-th failure in a row (1-based): `first`, doubling, `longest` at most."""
    doublings = min(max(failures - 1, 0), 32)  # 2**32 waits of a second are past any bound a caller sets
    return min(first * (1 << doublings), longest)


@dataclass(frozen=True, slots=True)
class Step:
    failures: int  # in a row, this one included
    since: datetime  # the first of them
    until: datetime  # nothing is tried before then

    def wait_s(self, now: datetime) -> float:
        return max((self.until - now).total_seconds(), 0.0)


class HeldBack:
    """Each key's run of failures; one per poller (it remembers the runs)."""

    def __init__(self, first: timedelta = FIRST_WAIT, longest: timedelta = LONGEST_WAIT) -> None:
        self._first, self._longest = first, longest
        self._steps: OrderedDict[str, Step] = OrderedDict()

    def waiting(self, key: str, now: datetime) -> bool:
        """Whether `key` failed and its wait has not yet passed: nothing of it is tried."""
        step = self._steps.get(key)
        return step is not None and now < step.until

    def failed(self, key: str, now: datetime) -> Step | None:
        """A failure of `key`: the wait it begins, to be logged; None when its current wait had begun already
        (another of its batches failed in the same poll), so the failure is counted there, not said again."""
        step = self._steps.get(key)
        if step is not None and now < step.until:
            return None
        failures = step.failures + 1 if step else 1
        begun = Step(failures, step.since if step else now, now + wait_after(failures, self._first, self._longest))
        keep_newest(self._steps, key, begun, KEPT)
        return begun

    def succeeded(self, key: str) -> Step | None:
        """`key` succeeded: its next failure waits FIRST_WAIT again. The run it ends, if it was failing."""
        return self._steps.pop(key, None)
