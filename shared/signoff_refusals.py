"""Why reporting refused a sign-off step, by a stable code, and the one Chinese sentence a clerk reads for it.

The code is the `reason` member of reporting's `409` problem (type .../problems/signoff-refused); its English
`detail` beside it is for integrators and may be reworded. Reporting's dashboard and notification's street
office page, which submits a week for its clerk, both show these words, looked up by the code. Pure.
"""

from __future__ import annotations

from enum import StrEnum


class Refusal(StrEnum):
    WEEK_NOT_BEGUN = "week_not_begun"
    ALREADY_SUBMITTED = "already_submitted"
    ALREADY_ACCEPTED = "already_accepted"
    NOT_SUBMITTED = "not_submitted"
    ALREADY_RETURNED = "already_returned"
    COMMENT_MISSING = "comment_missing"
    CHANGED_MEANWHILE = "changed_meanwhile"  # another clerk's step was stored first


REFUSAL_WORDS: dict[Refusal, str] = {
    Refusal.WEEK_NOT_BEGUN: "这一报告周尚未开始，开始后才能上报。",
    Refusal.ALREADY_SUBMITTED: "这一周的周报已上报，不能重复提交；被退回后才可重新提交。",
    Refusal.ALREADY_ACCEPTED: "这一周的周报已审核通过并锁定，不能再提交或审核。",
    Refusal.NOT_SUBMITTED: "这一周的周报尚未上报，上报后才能审核。",
    Refusal.ALREADY_RETURNED: "这一周的周报已退回，须街道重新上报后才能再审核。",
    Refusal.COMMENT_MISSING: "退回周报须写明退回理由。",
    Refusal.CHANGED_MEANWHILE: "周报状态刚被他人更改，请刷新页面，看过当前状态后再办理。",  # a submit or a review
}


def refusal_in_chinese(reason: Refusal) -> str:
    return REFUSAL_WORDS[reason]


def known_refusal(code: object) -> Refusal | None:
    """The Refusal a problem's `reason` member names; None for anything else (absent, unknown, not a string)."""
    return Refusal(code) if isinstance(code, str) and code in Refusal.__members__.values() else None
