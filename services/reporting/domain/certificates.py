"""Certificates followed up: whose marriage-and-childbearing certificate is missing, expired or about to expire. Pure.

A person's certificate is the one of their latest record that carries a
check; a later check or renewal (a 'certificate' change record) replaces it
and, when valid beyond the window, clears the person from the list. Persons
whose latest record is an outflow have left and are not followed up here.
The list names records, never persons: a clerk opens a record at intake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from services.reporting.domain.sheets import Sheet


class FollowUp(StrEnum):
    MISSING = "missing"  # no certificate (result 'missing')
    INVALID = "invalid"
    EXPIRED = "expired"
    EXPIRING = "expiring"  # valid, but not beyond the window


LABELS = {
    FollowUp.MISSING: "未办证",
    FollowUp.INVALID: "无效",
    FollowUp.EXPIRED: "已过期",
    FollowUp.EXPIRING: "即将到期",
}
ORDER = {kind: rank for rank, kind in enumerate(FollowUp)}


@dataclass(frozen=True, slots=True)
class LatestCheck:
    """A person's latest certificate check, as the fold keeps it (no name, no number)."""

    record_id: str
    street: str
    result: str
    valid_until: date | None
    checked_at: date


@dataclass(frozen=True, slots=True)
class FollowUpItem:
    record_id: str
    street: str
    follow_up: FollowUp
    valid_until: date | None
    days_left: int | None
    checked_at: date


def follow_up_of(check: LatestCheck, *, today: date, within_days: int) -> FollowUp | None:
    """Why the check needs following up by `today`, or None when the certificate is valid beyond the window."""
    if check.result == "missing":
        return FollowUp.MISSING
    if check.result == "invalid":
        return FollowUp.INVALID
    if check.result == "expired" or (check.valid_until is not None and check.valid_until < today):
        return FollowUp.EXPIRED
    if check.valid_until is None or check.valid_until <= today + timedelta(days=within_days):
        return FollowUp.EXPIRING
    return None


def follow_ups(checks: list[LatestCheck], *, today: date, within_days: int) -> list[FollowUpItem]:
    """The checks to follow up, most urgent first (missing, invalid, expired, expiring; earliest date first)."""
    items = []
    for check in checks:
        if (kind := follow_up_of(check, today=today, within_days=within_days)) is not None:
            left = (check.valid_until - today).days if check.valid_until else None
            items.append(FollowUpItem(check.record_id, check.street, kind, check.valid_until, left, check.checked_at))
    return sorted(items, key=lambda i: (ORDER[i.follow_up], i.valid_until or date.min, i.street, i.record_id))


def follow_up_sheet(
    code: str, items: list[FollowUpItem], *, today: date, within_days: int, cut_at: int | None = None
) -> Sheet:
    """The list as a sheet; `cut_at`: the list was cut after that many persons, the most urgent, and says so."""
    lines: tuple[str, ...] = (
        f"街道/区：{code}",
        f"截至 {today.isoformat()}，{within_days} 天内到期、已过期、无效或未办证",
    )
    if cut_at is not None:
        lines += (f"名单已截断：只列出最紧急的 {cut_at} 人，其余未列出",)
    headers = ("记录编号", "街道代码", "情况", "有效期至", "剩余天数", "查验日期")
    rows = tuple(
        (
            item.record_id,
            item.street,
            LABELS[item.follow_up],
            item.valid_until.isoformat() if item.valid_until else None,
            item.days_left,
            item.checked_at.isoformat(),
        )
        for item in items
    )
    return Sheet(title="婚育证明跟进名单", lines=lines, headers=headers, rows=rows)
