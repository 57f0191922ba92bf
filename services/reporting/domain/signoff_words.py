"""A refused sign-off step as the dashboard's reader reads it: one Chinese sentence per Refusal. Pure.

The API keeps its English `detail` for integrators and names the reason by its code; bureau analysts and
street clerks read Chinese, so the dashboard shows these words instead, looked up by that code.
"""

from __future__ import annotations

from services.reporting.domain.signoff import Refusal

REFUSAL_WORDS: dict[Refusal, str] = {
    Refusal.WEEK_NOT_BEGUN: "这一报告周尚未开始，开始后才能上报。",
    Refusal.ALREADY_SUBMITTED: "这一周的周报已上报，不能重复提交；被退回后才可重新提交。",
    Refusal.ALREADY_ACCEPTED: "这一周的周报已审核通过并锁定，不能再提交或审核。",
    Refusal.NOT_SUBMITTED: "这一周的周报尚未上报，上报后才能审核。",
    Refusal.ALREADY_RETURNED: "这一周的周报已退回，须街道重新上报后才能再审核。",
    Refusal.COMMENT_MISSING: "退回周报须写明退回理由。",
    Refusal.CHANGED_MEANWHILE: "周报状态刚被他人更改，请刷新页面后重新审核。",
}


def refusal_in_chinese(reason: Refusal) -> str:
    return REFUSAL_WORDS[reason]
