"""What the office page tells a clerk when a step is refused, in Chinese.

The use cases speak the API's language (problem documents with English
details and JSON pointers, shared.http.problems); the page says the same in
the words of its clerk, naming the field in question. No message quotes a
value: it may be a name or an address.
"""

from __future__ import annotations

from shared.http.problems import ProblemError

# what each correctable field must be (shared.events.feedback.CORRECTION_SHAPES, and for codes the directory)
FIELD_RULES = {
    "name": "姓名应为 1-50 个字，不能为空。",
    "residence_street": "现住街道代码应为现行的 9 位街道代码。",
    "residence_address": "现住址应为 1-200 个字，不能为空。",
    "registration_division": "户籍地区划代码应为现行的 6 位区县代码或 9 位街道代码。",
    "registration_address": "户籍地址最多 200 个字。",
}
ANSWER_RULES = {
    "/result": "请选择反馈结果。",
    "/corrections": "选择“核实有误（更正）”时，请填写至少一个更正的字段；其他结果不填更正。",
    "/reason": "选择“退回”时，请选择退回理由。",
}
BY_STATUS = {
    400: "链接或表单无效，请从收件箱重新打开。",
    403: "表单已过期或不是本页面发出的，请刷新页面后重试。",
    404: "没有这条通知，或它不属于本街道。",
    409: "这条通知已经反馈过，反馈不能更改。",
    422: "提交的内容有误，请检查后重新提交。",
}


def problem_messages(problem: ProblemError) -> list[str]:
    """One line per thing to fix: each bad field of a refused answer, or what the refusal means."""
    fields = [str(error.get("pointer", "")) for error in problem.extra.get("errors", [])]
    if problem.status == 422 and fields:
        return list(dict.fromkeys(_field_message(pointer) for pointer in fields))
    return [problem_message(problem.status)]


def problem_message(status: int) -> str:
    return BY_STATUS.get(status, f"操作未能完成（{status}），请稍后重试。")


def _field_message(pointer: str) -> str:
    if pointer.startswith("/corrections/"):
        return FIELD_RULES.get(pointer.removeprefix("/corrections/"), ANSWER_RULES["/corrections"])
    return ANSWER_RULES.get(pointer, BY_STATUS[422])
