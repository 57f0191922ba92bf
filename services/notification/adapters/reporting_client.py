"""Reporting's sign-off API, called server to server under the clerk's own office key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


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
        return SubmitAnswer(False, detail=str((body or {}).get("detail") or f"报表服务答复 {response.status_code}"))


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON object; None for anything else (a proxy's or a web server's page, whatever it says it is)."""
    if not response.headers.get("content-type", "").endswith("json"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
