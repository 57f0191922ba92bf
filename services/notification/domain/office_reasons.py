"""A notice's reason in Chinese, for the street office's page. Pure.

Routing writes each notice's reason in English words (routing.domain.workflow),
and the event and the API keep them so. A clerk reads the same sentence here
in Chinese: each of routing's sentences is matched whole, its codes and ids
carried over. A reason matching none (a partner's own words, a sentence cut at
300 characters) is shown as it came.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from services.notification.domain.office_labels import kind_label, rejection_label, result_label

Words = Callable[[re.Match[str]], str]
ELSEWHERE = "an unknown place"


def _place(code: str) -> str:
    return "不明去处" if code == ELSEWHERE else code


_SENTENCES: tuple[tuple[str, Words], ...] = (
    (r"person lives in your street; please verify", lambda m: "此人现住本街道，请核实"),
    (
        r"person lives in your street \(a case from another district\); please verify",
        lambda m: "此人现住本街道（外区报来的个案），请核实",
    ),
    (r"person lives in your district; please pass to the street and verify", lambda m: "此人现住本区，请转街道核实"),
    (
        r"case for another district served here; sent to the residence street directly",
        lambda m: "外区个案（本系统服务该区），已直接发给现住街道",
    ),
    (
        r"case for another district; forwarded to the residence district's bureau",
        lambda m: "外区个案，已转交现住区的区局",
    ),
    (
        r"circumstances of a person registered or living in your area changed",
        lambda m: "户籍或现住本辖区的人员情况有变更",
    ),
    (
        r"a person registered in your area moved away from (?P<left>\S+) to (?P<to>.+)",
        lambda m: f"户籍在本辖区的人员已从 {m['left']} 迁往 {_place(m['to'])}",
    ),
    (
        r"a person living in your street was reported by (?P<by>\S+) to have left for (?P<to>.+)",
        lambda m: f"据 {m['by']} 报告，现住本街道的人员已迁往 {_place(m['to'])}",
    ),
    (
        r"a person registered in your area was verified living elsewhere",
        lambda m: "户籍在本辖区的人员经核实现住外地",
    ),
    (
        r"the person was not found at the residence; please check the record again",
        lambda m: "现住地查无此人，请重新核对登记",
    ),
    (r"the residence district answered: (?P<result>\S+)", lambda m: f"现住区已反馈：{result_label(m['result'])}"),
    (
        r"your (?P<kind>\S+) notice was rejected: (?P<why>\S+)",
        lambda m: f"本单位发出的{kind_label(m['kind'])}通知被退回：{_why(m['why'])}",
    ),
    (
        r"reminder: the (?P<kind>\S+) notice (?P<id>\S+) has no answer yet",
        lambda m: f"催办：{kind_label(m['kind'])}通知 {m['id']} 尚未反馈",
    ),
    (
        r"escalation: the (?P<kind>\S+) notice (?P<id>\S+) to (?P<to>\S+) has no answer",
        lambda m: f"督办：发给 {m['to']} 的{kind_label(m['kind'])}通知 {m['id']} 尚未反馈",
    ),
)
SENTENCES = tuple((re.compile(pattern), words) for pattern, words in _SENTENCES)

# routing.domain.succession.noted: " (<field> <code> was retired[ since <date>]; its successor <code> is used; ...)"
SUCCESSION = re.compile(r"(?P<reason>.+) \((?P<notes>[^()]+ was retired[^()]*)\)")
SUCCEEDED = re.compile(
    r"(?P<field>\S+) (?P<code>\S+) was retired(?: since (?P<since>\S+))?; its successor (?P<to>\S+) is used"
)
CODE_FIELDS = {
    "reporting_street": "报告街道",
    "residence.street": "现住街道",
    "registration.division": "户籍地",
    "new_residence.street": "新住街道",
}


def reason_in_chinese(reason: str) -> str:
    """Routing's sentence in Chinese; any other reason unchanged."""
    if (sentence := _sentence(reason)) is not None:
        return sentence
    noted = SUCCESSION.fullmatch(reason)
    if noted is None or (sentence := _sentence(noted["reason"])) is None:
        return reason
    notes = list(SUCCEEDED.finditer(noted["notes"]))
    if "; ".join(note[0] for note in notes) != noted["notes"]:
        return reason
    return f"{sentence}（{'；'.join(_succeeded(note) for note in notes)}）"


def _succeeded(note: re.Match[str]) -> str:
    since = f"自 {note['since']} 起" if note["since"] else ""
    return (
        f"{CODE_FIELDS.get(note['field'], note['field'])}代码 {note['code']} {since}已撤销，改用其继承代码 {note['to']}"
    )


def _sentence(reason: str) -> str | None:
    for pattern, words in SENTENCES:
        if (match := pattern.fullmatch(reason)) is not None:
            return words(match)
    return None


def _why(value: str) -> str:
    return "未说明理由" if value == "unspecified" else rejection_label(value)
