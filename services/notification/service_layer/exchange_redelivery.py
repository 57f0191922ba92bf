"""The bureau sends to a partner again: every failed message for one partner, or one message by id.

A partner's messages are the notices for codes it carries and the answers we
owe it; both wait in the delivery schedule, and a delivery that failed (the
partner was down through a whole round of retries, or unconfigured until the
partners file was fixed) stays failed until someone asks for a new round.
Who may ask: a bureau of a district this deployment serves, and admin (the
messages are the deployment's, not one street's: SUPERVISE, like the overview).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.notification.adapters.exchange_store import ExchangeStore
from shared.auth import Action, Principal
from shared.auth.dependencies import require
from shared.clock import Clock
from shared.exchange.partners import PartnerTable
from shared.http.problems import ProblemError

MAX_PER_CALL = 1000  # a call redelivers at most this many; the next call finds the rest still failed


@dataclass(frozen=True, slots=True)
class Redelivered:
    message_ids: list[str]
    more: bool  # more failed messages for the partner than one call takes

    def view(self, partner: str) -> dict[str, object]:
        return {"partner": partner, "redelivered": len(self.message_ids), "more": self.more}


class ExchangeRedelivery:
    def __init__(
        self,
        *,
        partners: Callable[[], PartnerTable],
        store: ExchangeStore,
        served_districts: list[str],
        clock: Clock,
        wake: Callable[[], None],
    ) -> None:
        self._partners, self._store, self._clock, self._wake = partners, store, clock, wake
        self._served = served_districts

    def _require_bureau_here(self, principal: Principal) -> None:
        require(principal, Action.SUPERVISE)
        if not any(principal.may(Action.SUPERVISE, code) for code in self._served):
            raise ProblemError(403, "Forbidden", "Only a bureau of a district this deployment serves may do this.")

    async def partner(self, principal: Principal, name: str) -> Redelivered:
        """A new round for every failed message to partner `name`; 404 unknown, 409 not ready (it would fail)."""
        self._require_bureau_here(principal)
        table = self._partners()
        partner = table.named(name)
        if partner is None:
            raise ProblemError(404, "Not Found", "No exchange partner of this name in the partners file.")
        if partner.problems():
            detail = f"The partner is not ready ({'; '.join(partner.problems())}); fix the partners file first."
            raise ProblemError(409, "Conflict", detail)
        codes = [c for c in await self._store.failed_destinations() if (p := table.partner_for(c)) and p.name == name]
        ids = await self._store.failed_to(codes, limit=MAX_PER_CALL + 1) if codes else []
        redelivered = await self._store.redeliver(ids[:MAX_PER_CALL], now=self._clock.now()) if ids else []
        if redelivered:
            self._wake()
        return Redelivered(redelivered, more=len(ids) > MAX_PER_CALL)

    async def message(self, principal: Principal, message_id: str) -> None:
        """A new round for one message to a partner (a notice id, or the id of an answer we owe)."""
        self._require_bureau_here(principal)
        if not await self._store.redeliver([message_id], now=self._clock.now()):
            raise ProblemError(404, "Not Found", "No message to an exchange partner with this id.")
        self._wake()
