"""Intake's bulk route, called server to server under the caller's own key to enter the missed persons.

Intake validates, seals, stores and publishes the records as it does any
other; each carries an `external_id` derived from its place check and person,
so intake answers a record sent again as a duplicate with the first record's
id. Nothing here logs or raises a record's content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Entry:
    """Intake's answer for one record: its id, or why it was refused (pointer and detail per field)."""

    record_id: str | None
    errors: list[dict[str, str]] = field(default_factory=list)


class IntakeUnavailable(Exception):
    """Intake did not answer, or answered without a result per record."""


class RecordEntry(Protocol):
    async def enter(self, records: list[dict[str, Any]], *, key: str) -> list[Entry]: ...


class IntakeClient:
    def __init__(self, base_url: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self._base_url, self._timeout_s = base_url.rstrip("/"), timeout_s

    async def enter(self, records: list[dict[str, Any]], *, key: str) -> list[Entry]:
        """One entry per record, in order; IntakeUnavailable when intake cannot be asked or did not answer."""
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.post(
                    f"{self._base_url}/v1/records/bulk", json=records, headers={"Authorization": f"Bearer {key}"}
                )
        except httpx.HTTPError as error:
            raise IntakeUnavailable(type(error).__name__) from None
        if response.status_code != 200:
            raise IntakeUnavailable(f"intake answered {response.status_code}")
        try:
            results = response.json().get("results", [])
        except ValueError:  # a document cut short: intake stopped while answering
            raise IntakeUnavailable("intake's answer was cut short") from None
        if not isinstance(results, list) or len(results) != len(records):
            raise IntakeUnavailable("intake answered without a result per record")
        return [_entry(result) for result in results]


def _entry(result: dict[str, Any]) -> Entry:
    if result.get("status") in ("accepted", "duplicate"):
        return Entry(str(result["record_id"]))
    return Entry(
        None,
        [{"pointer": str(e.get("pointer", "")), "detail": str(e.get("detail", ""))} for e in result.get("errors", [])],
    )
