"""Reporting's sign-off API, called server to server under the clerk's own office key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from shared.signoff_refusals import known_refusal, refusal_in_chinese

ALREADY = re.compile(r"is already (?P<state>\w+)")
ALREADY_LABELS = {
    "submitted": "这一周的周报已上报，不能重复提交；被退回后才可重新提交。",
    "accepted": "这一周的周报已审核通过，不能再提交。",
}
NOT_BEGUN = "这一报告周尚未开始，开始后才能提交。"


@dataclass(frozen=True, slots=True)
class SubmitAnswer:
    ok: bool
    state: str = ""
    detail: str = ""


class ReportingClient:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self._base_url, self._timeout_s = base_url.rstrip("/"), timeout_s

    async def submit_week(self, *, key: str, street: str, week: str) -> SubmitAnswer:
        """POST /v1/reports/weekly/submit; reporting checks the key's scope and the week itself."""
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.post(
                    f"{self._base_url}/v1/reports/weekly/submit",
                    json={"street": street, "week": week},
                    headers={"Authorization": f"Bearer {key}"},
                )
        except httpx.HTTPError:
            return SubmitAnswer(False, detail="报表服务暂时无法连接，请稍后再试。")
        body = _json_object(response)
        if response.is_success and body is not None:
            return SubmitAnswer(True, state=str(body.get("state", "")))
        if response.is_success:  # not reporting's answer (a web server's page at a wrong URL): nothing says it took it
            return SubmitAnswer(False, detail=f"报表服务的答复无法识别（{response.status_code}），报表未确认提交。")
        return SubmitAnswer(False, detail=refusal_for_clerk(response.status_code, body or {}))


def refusal_for_clerk(status: int, problem: dict[str, Any]) -> str:
    """Reporting's refusal as the clerk reads it: by the problem's `reason` code (shared.signoff_refusals), or,
    from a reporting that names none (one not yet upgraded), by its English detail."""
    if status == 409 and (reason := known_refusal(problem.get("reason"))) is not None:
        return refusal_in_chinese(reason)
    detail = str(problem.get("detail", ""))
    if status == 409 and (already := ALREADY.search(detail)):
        return ALREADY_LABELS.get(already["state"], ALREADY_LABELS["submitted"])
    if status == 409:
        return NOT_BEGUN if "not begun" in detail else "周报状态刚被他人更改，请刷新页面后重试。"
    if status in (401, 403):
        return "本街道的密钥无权提交周报，或已被停用；请重新登录。"
    if status in (400, 404, 422):
        return "周次无效：格式如 2027-W08，且须在本次普查的日历内。"
    return f"报表服务答复 {status}，周报未提交，请稍后再试。"


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON object; None for anything else (a proxy's or a web server's page, whatever it says it is)."""
    if not response.headers.get("content-type", "").endswith("json"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
