"""How many pushes one recipient may have in flight: a window that grows while the recipient keeps up.

A fixed limit makes a recipient's rate that limit over its answer time: 8 in
flight answered in 40 ms is 200 notices a second, answered in 200 ms (a
street office's server across the city, or a busy box) 40. So the limit is a
window per recipient, as TCP paces a connection:
- it starts at `start` (NOTIFICATION_PER_RECIPIENT_CONCURRENCY);
- each 2xx answer given while more of the recipient's pushes were waiting
  for a slot widens it by one, up to `most`
  (NOTIFICATION_PER_RECIPIENT_MAX_CONCURRENCY): about double per round of
  answers, so a burst finds its pace within a few round trips;
- each failed attempt (no answer in time, a refused connection, any answer
  but 2xx) halves it, never below one: a struggling receiver is sent less,
  a failing one a single request at a time until it answers again.

An answer without a backlog leaves the window as it is: a recipient that
keeps up needs no more. `most` equal to `start` is a fixed limit.
Pure: the delivery worker keeps one window per recipient, in memory (a
new process starts each recipient at `start` again).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pacing:
    start: int
    most: int

    def __post_init__(self) -> None:
        if not 1 <= self.start <= self.most:
            raise ValueError("a recipient's window starts at 1 or more and at most its largest")

    def after(self, window: float, *, delivered: bool, waiting: bool) -> float:
        """The window after one attempt's answer; `waiting`: more of the recipient's pushes wanted a slot."""
        if not delivered:
            return max(1.0, window / 2)
        if waiting:
            return min(float(self.most), window + 1)
        return window

    @staticmethod
    def slots(window: float) -> int:
        """Requests the window lets be in flight at once."""
        return max(1, int(window))
