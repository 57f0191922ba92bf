"""The Chinese words the street office's page shows for the values notices carry. Pure.

The API and the events keep their English values (`transfer`, `cross-street`,
`not_found` ...); a clerk reads these labels instead, as reporting's dashboard
shows its states (reporting.domain.sheets.SIGNOFF_LABELS). A value with no
label is shown as it is: a new kind is then visible, not hidden.
"""

from __future__ import annotations

from services.notification.domain.status import NoticeStatus
from shared.events import FeedbackResult, NoticeKind, RejectionReason, Route

KIND_LABELS: dict[str, str] = {
    NoticeKind.TRANSFER: "转办核实",
    NoticeKind.FORWARD: "跨区转交",
    NoticeKind.FEEDBACK: "反馈转告",
    NoticeKind.REGISTRATION: "户籍地告知",
    NoticeKind.RECHECK: "复核",
    NoticeKind.REJECTION: "退回告知",
    NoticeKind.CHANGE: "变更告知",
    NoticeKind.REMINDER: "催办",
    NoticeKind.ESCALATION: "督办",
}
ROUTE_LABELS: dict[str, str] = {Route.SAME_DISTRICT: "区内", Route.CROSS_STREET: "街道间", Route.INTER_DISTRICT: "跨区"}
STATUS_LABELS: dict[str, str] = {
    NoticeStatus.ISSUED: "已下发",
    NoticeStatus.FAILED: "推送未成功（可在本页处理）",
    NoticeStatus.DELIVERED: "已送达",
    NoticeStatus.ACKNOWLEDGED: "已签收",
    NoticeStatus.ANSWERED: "已反馈",
}
RESULT_LABELS: dict[str, str] = {
    FeedbackResult.CONFIRMED: "核实无误",
    FeedbackResult.CORRECTED: "核实有误（更正）",
    FeedbackResult.NOT_FOUND: "查无此人",
    FeedbackResult.REJECTED: "退回",
}
REJECTION_LABELS: dict[str, str] = {
    RejectionReason.WRONG_RECIPIENT: "不属本单位（发错对象）",
    RejectionReason.PERSON_LEFT: "此人已离开",
    RejectionReason.DUPLICATE: "重复通知",
}
# the fields a "corrected" answer may change (shared.events.feedback.CORRECTABLE_FIELDS)
FIELD_LABELS = {
    "name": "姓名",
    "residence_street": "现住街道代码",
    "residence_address": "现住址",
    "registration_division": "户籍地区划代码",
    "registration_address": "户籍地址",
}

# keyed by members, which hash and compare as their values: `.get("transfer")` finds TRANSFER


def kind_label(value: str) -> str:
    return KIND_LABELS.get(value, value)


def route_label(value: str) -> str:
    return ROUTE_LABELS.get(value, value)


def status_label(value: str) -> str:
    """A notice's status, or the result of its answer (the inbox shows the one or the other)."""
    return STATUS_LABELS.get(value) or RESULT_LABELS.get(value) or value


def result_label(value: str) -> str:
    return RESULT_LABELS.get(value, value)


def rejection_label(value: str) -> str:
    return REJECTION_LABELS.get(value, value)


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name)
