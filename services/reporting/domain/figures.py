"""The figures of the weekly report (表二): their names, Chinese labels and arithmetic.

Every count is named here once; the API, the item lists ("which records are
behind this number"), the exports and the dashboard all use these names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from shared.events import NoticeKind, Route

NOTICE_ROUTES = (Route.CROSS_STREET.value, Route.INTER_DISTRICT.value)  # a same-district record needs no notice
# The notices that hand a case over (表二's 发出/收到通知): a transfer to the street the person lives in, and a
# forward to the bureau of the district they live in; both ask for an answer. Routing also sends a transfer
# that only informs the reporting bureau of an inter-district case (no answer expected), and reminders,
# escalations, registration, change, feedback, recheck and rejection notices: none of them is a handover.
HANDOVER_KINDS = (NoticeKind.TRANSFER.value, NoticeKind.FORWARD.value)
RECORD_ROUTES = tuple(route.value for route in Route)
UNANSWERED_AGES = ("under_3_days", "3_to_7_days", "over_7_days")

FIGURES: tuple[tuple[str, str], ...] = (
    ("new_inflow", "新流入"),
    ("verification", "核实原有个案"),
    ("change", "变更"),
    ("outflow", "流入再流出"),
    ("certificate_valid", "婚育证明查验：有效"),
    ("certificate_expired", "婚育证明查验：过期"),
    ("certificate_missing", "婚育证明查验：未办"),
    ("certificate_invalid", "婚育证明查验：无效"),
    ("sent_cross-street", "发出通知：街道间"),
    ("sent_inter-district", "发出通知：跨区"),
    ("received_cross-street", "收到通知：街道间"),
    ("received_inter-district", "收到通知：跨区"),
    ("unanswered_under_3_days", "未反馈通知：3天内"),
    ("unanswered_3_to_7_days", "未反馈通知：3-7天"),
    ("unanswered_over_7_days", "未反馈通知：7天以上"),
    ("rejected_at_intake", "录入被拒"),
    ("target_population", "目标人群"),
)
FIGURE_NAMES = tuple(name for name, _ in FIGURES)
LABELS = dict(FIGURES)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty.

    Nearest rank always returns an observed delay, so the figure is one a
    clerk can find in the item list.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


DelaySummary = tuple[int, float | None, float | None]  # (count, median s, 90th percentile s)


def delay_summary(seconds: Sequence[float]) -> DelaySummary:
    return len(seconds), percentile(seconds, 50), percentile(seconds, 90)


def entry_delay(summary: DelaySummary) -> dict[str, float | int | None]:
    """Median and 90th percentile of received-minus-observed, in hours (two decimals).

    The database may compute the summary itself (PostgreSQL's percentile_disc
    is this nearest-rank percentile); otherwise delay_summary does.
    """

    def hours(value: float | None) -> float | None:
        return None if value is None else round(float(value) / 3600, 2)

    count, median, p90 = summary
    return {"count": count, "median_hours": hours(median), "p90_hours": hours(p90)}


def unanswered_bounds(as_of: datetime) -> tuple[datetime, datetime]:
    """(3 days before, 7 days before) `as_of`: a notice issued after the first is under 3 days old,
    one issued at or before the second is over 7 days old, the rest are 3 to 7 days old."""
    return as_of - timedelta(days=3), as_of - timedelta(days=7)


def unanswered_age(issued_at: datetime, as_of: datetime) -> str:
    three, seven = unanswered_bounds(as_of)
    if issued_at > three:
        return "under_3_days"
    return "3_to_7_days" if issued_at > seven else "over_7_days"
