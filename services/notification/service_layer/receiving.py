"""Receiving issued notices: into the inbox, and their pushes straight to the delivery worker.

The worker takes the new pushes it has room for from the very transaction
that stores their notices (adapters/delivery_claims.py, Handoff): a notice is
pushed without waiting for the worker's next claim, a round trip to the
database that also cost CPU per notice. Pushes it has no room for, and
messages to exchange partners, are stored due now and the worker is woken
to claim them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from services.notification.adapters.inbox import Inbox
from services.notification.service_layer.delivery import DeliveryWorker
from shared.clock import Clock
from shared.events import NoticeIssued


class NoticeReceiver:
    def __init__(self, *, inbox: Inbox, worker: DeliveryWorker, clock: Clock) -> None:
        self._inbox, self._worker, self._clock = inbox, worker, clock

    async def receive(self, notices: Sequence[NoticeIssued]) -> list[tuple[bool, bool]]:
        """Per notice: (stored: it is new, scheduled: a push is due)."""
        leased_at = time.monotonic()  # the hand-off's lease runs from here, however long the store takes
        stored = await self._inbox.store_many(notices, now=self._clock.now(), handoff=self._worker.handoff())
        self._worker.take(stored.claims, claimed_at=leased_at)
        if stored.due:
            self._worker.wake()
        return stored.outcomes
