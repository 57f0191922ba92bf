"""Push follow-up: a notice's attempts, a new round of pushes, the bureau's failed list."""

from __future__ import annotations

from collections.abc import Callable

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.inbox import Inbox
from services.notification.adapters.tables import Delivery, DeliveryAttempt, InboxNotice
from services.notification.domain.access import recipient_prefix
from services.notification.service_layer.visibility import visible_notice
from shared.auth import Action, Principal
from shared.auth.dependencies import require
from shared.clock import Clock
from shared.http.problems import ProblemError


class PushFollowUp:
    """What a recipient or the bureau may do about pushes afterwards: read the attempts, ask again, list failures.

    Each call checks the caller's reach first; a redelivery wakes the worker, so it goes now, not at the next poll.
    """

    def __init__(self, *, inbox: Inbox, store: DeliveryStore, clock: Clock, wake: Callable[[], None]) -> None:
        self._inbox, self._store, self._clock = inbox, store, clock
        self._wake = wake  # the push worker: a redelivery is due now

    async def history(self, principal: Principal, notice_id: str) -> tuple[Delivery | None, list[DeliveryAttempt]]:
        await visible_notice(self._inbox, principal, notice_id)
        return await self._store.history(notice_id)

    async def redeliver(self, principal: Principal, notice_id: str) -> None:
        """A new round of pushes, due now; 409 when the recipient has no webhook to push to."""
        notice = await visible_notice(self._inbox, principal, notice_id, action=Action.ANSWER)
        if not await self._store.redeliver(notice, now=self._clock.now()):
            detail = "The recipient has no webhook; register one with PUT /v1/recipients/{code}/webhook."
            raise ProblemError(409, "Conflict", detail)
        self._wake()

    async def failed(self, principal: Principal, *, limit: int) -> list[tuple[Delivery, InboxNotice]]:
        """Failed deliveries in the caller's district (all of them for admin), most recent first."""
        require(principal, Action.SUPERVISE)
        return await self._store.failed(prefix=recipient_prefix(principal), limit=limit)
