"""What the street office's page decides: inbox sections, the answer form, safe sheet cells. Pure.

The page shows a street's notices in three piles: new (waiting for an answer),
reminded (waiting, and a reminder or escalation about the same case has
arrived), answered. Notices that expect no answer (registration, change,
feedback ...: `answer_expected` is false) are listed apart as information.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from shared.events import FeedbackResult, NoticeKind, RejectionReason
from shared.events.feedback import CORRECTABLE_FIELDS

FOLLOW_UPS = frozenset({NoticeKind.REMINDER.value, NoticeKind.ESCALATION.value})


class Listed(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def record_id(self) -> str: ...
    @property
    def answered_at(self) -> datetime | None: ...
    @property
    def answer_expected(self) -> bool: ...


N = TypeVar("N", bound=Listed)
E = TypeVar("E", FeedbackResult, RejectionReason)


@dataclass
class Sections(Generic[N]):
    new: list[N] = field(default_factory=list)
    reminded: list[N] = field(default_factory=list)
    answered: list[N] = field(default_factory=list)
    information: list[N] = field(default_factory=list)

    @property
    def open(self) -> list[N]:
        return [*self.reminded, *self.new]


def sections(notices: Sequence[N]) -> Sections[N]:
    """Sort a street's notices (newest first, as the inbox gives them) into the page's piles."""
    reminded_cases = {n.record_id for n in notices if n.kind in FOLLOW_UPS}
    piles: Sections[N] = Sections()
    for notice in notices:
        if notice.kind in FOLLOW_UPS:
            continue  # shown as the mark on the notice it is about
        if not notice.answer_expected:
            piles.information.append(notice)
        elif notice.answered_at is not None:
            piles.answered.append(notice)
        elif notice.record_id in reminded_cases:
            piles.reminded.append(notice)
        else:
            piles.new.append(notice)
    return piles


@dataclass(frozen=True, slots=True)
class AnswerForm:
    result: FeedbackResult | None
    corrections: dict[str, str]
    reason: RejectionReason | None
    note: str
    problems: tuple[str, ...] = ()


def read_answer_form(form: Mapping[str, str]) -> AnswerForm:
    """The answer a clerk filled in; the service layer applies the same rules as the API."""
    problems = []
    result = _enum(FeedbackResult, form.get("result", ""))
    if result is None:
        problems.append("请选择反馈结果。")
    reason = _enum(RejectionReason, form.get("reason", "")) if result is FeedbackResult.REJECTED else None
    corrections = {}
    if result is FeedbackResult.CORRECTED:
        corrections = {f: v.strip() for f in sorted(CORRECTABLE_FIELDS) if (v := form.get(f"correct_{f}", "")).strip()}
    return AnswerForm(result, corrections, reason, form.get("note", "").strip()[:500], tuple(problems))


def report_week_of(moment: datetime, zone: ZoneInfo, *, cut_off: time = time(10, 0)) -> tuple[str, datetime]:
    """The report week a clerk is submitting, and its due time (the next Friday 10:00).

    Reporting's calendar is the authority (it refuses a week it does not know);
    this only fills in the form with the week the census's rule names.
    """
    local = moment.astimezone(zone)
    friday = local.date() + timedelta(days=(4 - local.weekday()) % 7)
    if friday == local.date() and local.time() >= cut_off:
        friday += timedelta(days=7)
    year, week, _ = friday.isocalendar()
    return f"{year}-W{week:02d}", datetime.combine(friday, cut_off, tzinfo=zone)


def _enum(kind: type[E], value: str) -> E | None:
    try:
        return kind(value)
    except ValueError:
        return None


__all__ = ["AnswerForm", "Sections", "read_answer_form", "report_week_of", "sections"]
