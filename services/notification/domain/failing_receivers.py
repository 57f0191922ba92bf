"""Which failed pushes are worth a log line: a receiver's first failure, then a count a minute, then its recovery.

A receiver that stops answering fails every push to it, each retried with
backoff: a line per attempt was about 390 lines in 3 minutes for one stopped
receiver in `make run`'s terminal (each naming its notice and attempt, so no
repeat filter could fold them). An operator needs to know that the receiver
fails, why, and when it answers again. Every attempt stays in the delivery log
(GET /v1/notices/{id}/deliveries) and in popflow_push_attempts_total. Pure:
the caller brings the time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.recent import keep_newest

SUMMARY_EVERY = timedelta(minutes=1)
KEPT = 10_000  # receivers remembered at most (a few hundred streets and bureaus): past it, the longest quiet forgotten


class Say(StrEnum):
    FAILING = "failing"  # the first failure after a success (or since start)
    STILL_FAILING = "still_failing"  # failures held back since the last line, once a minute
    RECOVERED = "recovered"  # a push delivered after failures


@dataclass(frozen=True, slots=True)
class Line:
    say: Say
    held: int  # failed attempts since the last line, not logged one by one
    since: datetime  # the first failure of this run of failures


@dataclass(slots=True)
class _Run:
    since: datetime
    said_at: datetime
    held: int = 0


class FailingReceivers:
    """Folds a receiver's run of failed pushes into a few lines; one per process (it remembers the runs)."""

    def __init__(self, every: timedelta = SUMMARY_EVERY) -> None:
        self._every = every
        self._runs: OrderedDict[str, _Run] = OrderedDict()

    def failed(self, receiver: str, now: datetime) -> Line | None:
        """The line to write for this failure, or None when it is counted for the next one."""
        run = self._runs.get(receiver)
        if run is None:
            keep_newest(self._runs, receiver, _Run(since=now, said_at=now), KEPT)
            return Line(Say.FAILING, 0, now)
        self._runs.move_to_end(receiver)  # failing still: the last to forget
        if now - run.said_at < self._every:
            run.held += 1
            return None
        line = Line(Say.STILL_FAILING, run.held + 1, run.since)
        run.said_at, run.held = now, 0
        return line

    def delivered(self, receiver: str) -> Line | None:
        """The recovery line when `receiver` was failing; None when it was not."""
        run = self._runs.pop(receiver, None)
        return None if run is None else Line(Say.RECOVERED, run.held, run.since)
