"""Which closed weeks the scheduled export still owes. Pure: week names in, week names out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set


def weeks_owed(closed: Sequence[str], written: Mapping[str, Set[str]]) -> list[str]:
    """The weeks of `closed` (oldest first, the last one closed by the latest cut-off) whose files some
    district of `written` ({district: weeks written}) lacks, oldest first.

    A district owes no week before the first it ever had written, so a new deployment (or one just
    upgraded to the record) writes the last closed week only, not every week of the window.
    """
    if not closed:
        return []
    owed = []
    for week in closed:  # names are YYYY-Www: their order as strings is their order in time
        if any(week >= min(weeks, default=closed[-1]) and week not in weeks for weeks in written.values()):
            owed.append(week)
    return owed
