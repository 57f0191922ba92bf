"""Notification's exchange overview (GET /v1/exchange/partners), read for the dashboard under a configured key.

One row per partner: what went to it (sent, acknowledged by its door or by
an acknowledgement file its FTP poller wrote back, failed, sent again) and what it sent us that was set
aside. The dashboard shows the rows or, when notification cannot be reached
or refuses, says so: the rest of the page never waits on it for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PartnerRow:
    name: str
    transport: str
    ready: bool
    sent: int  # every message handed to the exchange for it: pending, acknowledged or failed
    pending: int
    acknowledged: int  # its door answered 2xx (https), or its poller acknowledged taking the batch (ftp)
    failed: int
    redelivered: int
    set_aside: int  # its FTP batches refused here as a whole (unsigned, tampered, truncated)
    received: int  # notices and answers it sent us


def partner_rows(overview: dict[str, Any]) -> list[PartnerRow]:
    """The overview as rows, partners with traffic or problems first."""
    aside: dict[str, int] = {}
    for row in overview.get("set_aside", []):
        name = str(row.get("partner") or "unconfigured")
        aside[name] = aside.get(name, 0) + 1
    rows = []
    for partner in overview.get("partners", []):
        sent, received = partner.get("sent", {}), partner.get("received", {})
        pending, delivered, failed = (int(sent.get(state, 0)) for state in ("pending", "delivered", "failed"))
        rows.append(
            PartnerRow(
                name=str(partner["name"]),
                transport=str(partner.get("transport", "")),
                ready=bool(partner.get("ready")),
                sent=pending + delivered + failed,
                pending=pending,
                acknowledged=int(sent.get("acknowledged", 0)),
                failed=failed,
                redelivered=int(sent.get("redelivered", 0)),
                set_aside=aside.pop(str(partner["name"]), 0),
                received=int(received.get("notices", 0)) + int(received.get("answers", 0)),
            )
        )
    for name, count in aside.items():  # from a sender no partner entry names any more
        rows.append(PartnerRow(name, "", False, 0, 0, 0, 0, 0, count, 0))
    return sorted(rows, key=lambda r: (-(r.failed + r.set_aside), -r.sent, r.name))


class ExchangeClient:
    def __init__(
        self, base_url: str, key: str, *, timeout_s: float = 3.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url, self._key = base_url.rstrip("/") + "/v1/exchange/partners", key
        self._timeout_s, self._transport = timeout_s, transport

    async def partners(self) -> list[PartnerRow] | None:
        """The rows; None when notification cannot be reached or refuses (logged, without the key)."""
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport) as client:
                response = await client.get(self._url, headers={"Authorization": f"Bearer {self._key}"})
        except httpx.HTTPError as error:
            log.warning("exchange overview unavailable", error=type(error).__name__)
            return None
        if response.status_code != 200:
            log.warning("exchange overview refused", status=response.status_code)
            return None
        try:
            return partner_rows(response.json())
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("exchange overview unreadable", error=type(error).__name__)
            return None
