"""Reporting's sign-off API, called server to server under the clerk's own office key."""

from __future__ import annotations

from dataclasses import dataclass

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
        if response.is_success:
            return SubmitAnswer(True, state=str(response.json().get("state", "")))
        body = response.json() if response.headers.get("content-type", "").endswith("json") else {}
        return SubmitAnswer(False, detail=str(body.get("detail") or f"报表服务答复 {response.status_code}"))
