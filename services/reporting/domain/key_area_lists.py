"""When a street's key-area list is due, and whether it came in on time. Pure.

In the mobilisation phase each street lists its key areas (markets, roadside
shops, enterprises, rental housing) with a canvass timetable, due on the
third day of the campaign. The list "came in" when the street first
registered an area of the campaign; areas added afterwards complete it and
do not move that date. Dates are local dates of the deployment's zone
(POPFLOW_TIMEZONE): a list sent at 23:30 on the third day is on time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

DUE_ON_DAY = 3  # the third day of the campaign, its first day being day 1


class ListState(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    MISSING = "missing"  # past its due date and still not in
    NOT_DUE = "not_due"  # not in, but its due date has not passed
    UNDATED = "undated"  # in, from before lists carried their time (migration 0005)


LABELS = {
    ListState.ON_TIME: "按时报送",
    ListState.LATE: "逾期报送",
    ListState.MISSING: "逾期未报",
    ListState.NOT_DUE: "未到期",
    ListState.UNDATED: "已报送（时间不详）",
}


def list_due_on(campaign_starts_on: date) -> date:
    """The last day a street's key-area list is on time: the campaign's third day."""
    return campaign_starts_on + timedelta(days=DUE_ON_DAY - 1)


@dataclass(frozen=True, slots=True)
class ListStatus:
    street: str
    state: ListState
    due_on: date
    listed_on: date | None  # local date the list came in
    days_late: int  # late: by how many days it came in after the due date; missing: days overdue so far

    def shown(self) -> dict[str, object]:
        return {
            "street": self.street,
            "state": self.state.value,
            "due_on": self.due_on.isoformat(),
            "listed_on": self.listed_on.isoformat() if self.listed_on else None,
            "days_late": self.days_late,
        }


def list_status(
    street: str, due_on: date, *, has_areas: bool, listed_at: datetime | None, now: datetime, zone: ZoneInfo
) -> ListStatus:
    """Classify one street's list as of `now` (aware datetimes; compared as local dates of `zone`)."""
    if has_areas and listed_at is None:
        return ListStatus(street, ListState.UNDATED, due_on, None, 0)
    if listed_at is not None:
        listed_on = listed_at.astimezone(zone).date()
        late_by = (listed_on - due_on).days
        state = ListState.LATE if late_by > 0 else ListState.ON_TIME
        return ListStatus(street, state, due_on, listed_on, max(late_by, 0))
    overdue = (now.astimezone(zone).date() - due_on).days
    state = ListState.MISSING if overdue > 0 else ListState.NOT_DUE
    return ListStatus(street, state, due_on, None, max(overdue, 0))


def overdue(statuses: list[ListStatus]) -> list[ListStatus]:
    """The streets a bureau chases: late or still missing, the longest overdue first."""
    chased = [s for s in statuses if s.state in (ListState.LATE, ListState.MISSING)]
    return sorted(chased, key=lambda s: (-s.days_late, s.street))
