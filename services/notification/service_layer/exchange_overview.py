"""What the bureau sees of the exchange: per partner, what was sent, delivered, acknowledged, failed, redelivered
and received, for every district the deployment serves together (so only a key covering all of them reads it).

Acknowledged: over https the partner's door answered 2xx (delivered is
acknowledged); over FTP the partner's acknowledgement file said its poller
took the batch holding the message (`batches` counts the batches, and those
set aside over there, whose messages are failed with the reason).
FTP batch files refused as a whole (unsigned, tampered, truncated), batch
files whose manifest never came, and taken batches with lines that did not
read or whose sender could not be told (its batch id holds an identity number,
say: no acknowledgement is named after it), are listed under "set_aside" with the reason, and their sender as
verified only when a partner's key checked a signed word naming it. Codes no
ready partner carries are listed as "unconfigured" with their deliveries,
which failed at once with the reason: refused, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from services.notification.adapters.exchange_store import Counts, ExchangeStore
from services.notification.adapters.tables import Delivery, ExchangeSetAside, utc
from shared.auth import Principal
from shared.auth.dependencies import require
from shared.auth.scopes import Action
from shared.exchange.partners import UNCONFIGURED, Partner, PartnerTable, Transport
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
        """Each partner's traffic, then the failed messages and the set-aside files, for every served district."""
        require(principal, Action.SUPERVISE)  # the bureau's follow-up view, like the failed-delivery list
        self._require_every_district(principal)
        table = self._partners()
        views = _partner_views(table, self._serves)
        await self._count_sent(table, views)
        await self._count_acknowledged(table, views)
        await self._count_batches(views)
        await self._count_received(views)
        refused = [_failed_view(d) for d in await self._store.refused(limit=100)]
        set_aside = [_set_aside_view(row) for row in await self._store.set_aside_files(limit=100)]
        return {"partners": list(views.values()), "failed": refused, "set_aside": set_aside}

    def _require_every_district(self, principal: Principal) -> None:
        """403 unless the key covers every served district: the counts are of all of them together (and the
        failed messages of all), so a bureau of one district of several would read the others' traffic."""
        uncovered = [code for code in self._served if not principal.scope.covers(code)]
        if uncovered:
            raise ProblemError(
                403,
                "Forbidden",
                f"The exchange overview counts every district this deployment serves ({', '.join(self._served)});"
                f" your key's scope ({principal.scope}) does not cover {', '.join(uncovered)}: use an admin key.",
            )

    async def _count_sent(self, table: PartnerTable, views: dict[str, dict[str, Any]]) -> None:
        """Deliveries by the partner that carries their code now; a code none does counts as "unconfigured"."""
        for counts in await self._store.delivery_counts():
            carrier = table.ready_partner_for(counts.code)
            view = views[carrier.name] if carrier else views.setdefault(UNCONFIGURED, _unconfigured())
            _add_sent(view, counts, carrier)

    async def _count_acknowledged(self, table: PartnerTable, views: dict[str, dict[str, Any]]) -> None:
        """Deliveries an FTP partner's acknowledgement said were taken (https ones count in `_add_sent`)."""
        for code, n in (await self._store.acknowledged_counts()).items():
            carrier = table.ready_partner_for(code)
            if carrier is not None:
                views[carrier.name]["sent"]["acknowledged"] += n

    async def _count_batches(self, views: dict[str, dict[str, Any]]) -> None:
        """FTP batches per partner in the table (the unconfigured view, and a partner no longer listed, show none)."""
        for name, batches in (await self._store.batch_counts()).items():
            if name in views and "batches" in views[name]:
                views[name]["batches"] = batches

    async def _count_received(self, views: dict[str, dict[str, Any]]) -> None:
        """Messages received per partner, kept even for a partner no longer in the table."""
        for (name, kind), n in (await self._store.received_counts()).items():
            view = views.setdefault(name, {"name": name, "sent": _empty(), "received": {"notices": 0, "answers": 0}})
            view["received"][f"{kind}s"] = n


def _partner_views(table: PartnerTable, serves: Callable[[str], bool]) -> dict[str, dict[str, Any]]:
    """A view with nothing counted yet for each partner in the table, by name, but this deployment's own."""
    views: dict[str, dict[str, Any]] = {}
    for prefixes, partner in table.partners():
        if prefixes and all(serves(prefix) for prefix in prefixes):
            continue  # this deployment's own entry in a partners file shared by the city: no partner of its own
        views[partner.name] = _partner_view(prefixes, partner)
    return views


def _partner_view(prefixes: list[str], partner: Partner) -> dict[str, Any]:
    return {
        "name": partner.name,
        "prefixes": prefixes,
        "transport": partner.transport.value,
        "address": partner.address,
        "ready": not partner.problems(),
        "problems": partner.problems(),
        # a switch-over: its previous key is accepted until then
        "previous_key_until": utc(partner.keys.previous_until).isoformat() if partner.keys.previous_until else None,
        "sent": _empty(),
        "batches": {"sent": 0, "taken": 0, "set_aside": 0, "messages_refused": 0},
        "received": {"notices": 0, "answers": 0},
    }


def _add_sent(view: dict[str, Any], counts: Counts, carrier: Partner | None) -> None:
    """One row of delivery counts into its partner's view (or the unconfigured one's, listing its code)."""
    sent = view["sent"]
    sent[counts.state] = sent.get(counts.state, 0) + counts.deliveries
    sent["attempts"] += counts.attempts
    sent["redelivered"] += counts.redelivered
    if carrier is not None and carrier.transport is Transport.HTTPS and counts.state == "delivered":
        sent["acknowledged"] += counts.deliveries  # its door's 2xx
    if carrier is None:
        view["codes"] = sorted({*view.get("codes", []), counts.code})


def _failed_view(d: Delivery) -> dict[str, Any]:
    return {
        "message_id": d.notice_id,
        "code": d.exchange_code,
        "attempts": d.total_attempts,
        "last_error": d.last_error,
        "failed_at": utc(d.updated_at).isoformat(),
    }


def _set_aside_view(row: ExchangeSetAside) -> dict[str, Any]:
    return {
        "file": row.file,
        "sender": row.sender_code,
        # a partner is recorded only once its key checked the signed manifest or acknowledgement naming `sender`;
        # without one, `sender` is only what the file claims (an orphan's name, a manifest that did not check)
        "sender_verified": row.partner is not None and row.sender_code is not None,
        "partner": row.partner,
        "reason": row.reason,
        "set_aside_at": utc(row.set_aside_at).isoformat(),
    }


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
