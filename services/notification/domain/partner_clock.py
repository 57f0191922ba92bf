"""When a partner's answer counts as given: its own clock's word, kept inside what this deployment knows.

A partner dates its answer by its own clock. No answer is given before our notice was issued, nor after it
reached us; a date outside those two (a clock set wrong, a time zone mistaken for another) would move the
answer across the weekly cut-off, and a notice answered in time would count as unanswered at the Friday
report, or the other way round. The time counted is the partner's when it lies between them, else the
nearer of the two. How far the partner's was off is given back, for the operator's log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

NOTED_SKEW = timedelta(minutes=5)  # a partner's clock off by more than this is worth an operator's look


def counted_answer_time(claimed: datetime, *, issued_at: datetime, received_at: datetime) -> tuple[datetime, timedelta]:
    """The answer's time as counted, and how far the partner's `claimed` lay outside [issued_at, received_at]
    (zero inside; negative before the notice was issued, positive after the answer reached us)."""
    if claimed < issued_at:
        return min(issued_at, received_at), claimed - issued_at
    if claimed > received_at:
        return received_at, claimed - received_at
    return claimed, timedelta(0)
