"""What the bureau sees of the exchange: per partner, what was sent, delivered, acknowledged, failed, redelivered
and received, for every district the deployment serves together (so only a key covering all of them reads it).

Acknowledged: over https the partner's door answered 2xx (delivered is
acknowledged); over FTP the partner's acknowledgement file said its poller
took the batch holding the message (`batches` counts the batches, and those
set aside over there, whose messages are failed with the reason).
FTP batch files refused as a whole (unsigned, tampered, truncated), and
taken batches with lines that did not read, are listed under "set_aside" with
the reason. Codes no ready partner carries are listed as "unconfigured" with their
deliveries, which failed at once with the reason: refused, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from services.notification.adapters.exchange_store import ExchangeStore
from services.notification.adapters.tables import utc
from shared.auth import Principal
from shared.auth.dependencies import require
from shared.auth.scopes import Action
from shared.exchange.partners import UNCONFIGURED, PartnerTable, Transport
from shared.http.problems import ProblemError


class ExchangeOverview:
    def __init__(
        self, *, partners: Callable[[], PartnerTable], store: ExchangeStore, served_districts: Sequence[str]
    ) -> None:
        self._partners, self._store, self._served = partners, store, list(served_districts)

    def _serves(self, prefix: str) -> bool:
        """Whether every code under `prefix` is one of this deployment's (a served district, or a street of one)."""
        return any(prefix.startswith(district) for district in self._served)

    async def partners(self, principal: Principal) -> dict[str, Any]:
        require(principal, Action.SUPERVISE)  # the bureau's follow-up view, like the failed-delivery list
        # one count per partner for every served district together (and the failed messages of all): a bureau
        # of one district of several would read the others' traffic
        uncovered = [code for code in self._served if not principal.scope.covers(code)]
        if uncovered:
            raise ProblemError(
                403,
                "Forbidden",
                f"The exchange overview counts every district this deployment serves ({', '.join(self._served)});"
                f" your key's scope ({principal.scope}) does not cover {', '.join(uncovered)}: use an admin key.",
            )
        table = self._partners()
        views: dict[str, dict[str, Any]] = {}
        for prefixes, partner in table.partners():
            if prefixes and all(self._serves(prefix) for prefix in prefixes):
                continue  # this deployment's own entry in a partners file shared by the city: no partner of its own
            views[partner.name] = {
                "name": partner.name,
                "prefixes": prefixes,
                "transport": partner.transport.value,
                "address": partner.address,
                "ready": not partner.problems(),
                "problems": partner.problems(),
                # a switch-over: its previous key is accepted until then
                "previous_key_until": utc(partner.keys.previous_until).isoformat()
                if partner.keys.previous_until
                else None,
                "sent": _empty(),
                "batches": {"sent": 0, "taken": 0, "set_aside": 0, "messages_refused": 0},
                "received": {"notices": 0, "answers": 0},
            }
        for counts in await self._store.delivery_counts():
            carrier = table.ready_partner_for(counts.code)
            view = views[carrier.name] if carrier else views.setdefault(UNCONFIGURED, _unconfigured())
            sent = view["sent"]
            sent[counts.state] = sent.get(counts.state, 0) + counts.deliveries
            sent["attempts"] += counts.attempts
            sent["redelivered"] += counts.redelivered
            if carrier is not None and carrier.transport is Transport.HTTPS and counts.state == "delivered":
                sent["acknowledged"] += counts.deliveries  # its door's 2xx
            if carrier is None:
                view["codes"] = sorted({*view.get("codes", []), counts.code})
        for code, n in (await self._store.acknowledged_counts()).items():
            carrier = table.ready_partner_for(code)
            if carrier is not None:
                views[carrier.name]["sent"]["acknowledged"] += n
        for name, batches in (await self._store.batch_counts()).items():
            if name in views and "batches" in views[name]:
                views[name]["batches"] = batches
        for (name, kind), n in (await self._store.received_counts()).items():
            view = views.setdefault(name, {"name": name, "sent": _empty(), "received": {"notices": 0, "answers": 0}})
            view["received"][f"{kind}s"] = n
        refused = [
            {
                "message_id": d.notice_id,
                "code": d.exchange_code,
                "attempts": d.total_attempts,
                "last_error": d.last_error,
                "failed_at": utc(d.updated_at).isoformat(),
            }
            for d in await self._store.refused(limit=100)
        ]
        set_aside = [
            {
                "file": row.file,
                "sender": row.sender_code,
                "partner": row.partner,
                "reason": row.reason,
                "set_aside_at": utc(row.set_aside_at).isoformat(),
            }
            for row in await self._store.set_aside_files(limit=100)
        ]
        return {"partners": list(views.values()), "failed": refused, "set_aside": set_aside}


def _empty() -> dict[str, int]:
    return {"pending": 0, "delivered": 0, "acknowledged": 0, "failed": 0, "attempts": 0, "redelivered": 0}


def _unconfigured() -> dict[str, Any]:
    return {
        "name": UNCONFIGURED,
        "ready": False,
        "codes": [],
        "sent": _empty(),
        "received": {"notices": 0, "answers": 0},
    }
