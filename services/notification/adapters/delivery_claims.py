"""The pushes the delivery worker holds: claimed or handed off under a lease, and each attempt's outcome.

A Claim is leased: its row is due again when the lease ends (adapters/deliveries.py),
so a push the worker never finishes comes back rather than being lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notification.adapters.sender import SendResult
from services.notification.adapters.tables import NoticeView, WebhookValues
from services.notification.domain.backoff import NextStep


@dataclass(frozen=True, slots=True)
class Claim:
    """A due push, with what it needs: the notice and the recipient's subscription (None if gone)."""

    notice_id: str
    recipient_code: str
    round_attempts: int
    total_attempts: int
    notice: NoticeView | None = None
    subscription: WebhookValues | None = None
    exchange_code: str | None = None  # set: a message to the exchange partner of this code, not a webhook push
    person: dict[str, Any] | None = None  # the notice's person, when the store handed the push over: no unsealing
    round_number: int = 0  # the schedule's round when claimed (a new row's is 0): a redelivery since moved it on


class Handoff:
    """New pushes the delivery worker takes straight from the transaction that stores their notices.

    A push taken is stored leased until `lease_until`, as if claimed, and comes back as a Claim:
    no claim's round trip between storing a notice and pushing it. At most `room(recipient)` of
    a recipient's and `limit` in all are taken; the rest are stored due now, for the next claim.
    """

    def __init__(self, *, lease_until: datetime, limit: int, room: Callable[[str], int]) -> None:
        self.lease_until = lease_until
        self._left, self._room = limit, room
        self._taken: dict[str, int] = {}

    def take(self, recipient_code: str) -> bool:
        taken = self._taken.get(recipient_code, 0)
        if self._left <= 0 or taken >= self._room(recipient_code):
            return False
        self._taken[recipient_code], self._left = taken + 1, self._left - 1
        return True


@dataclass(frozen=True, slots=True)
class Attempted:
    """One push attempt's outcome, to be recorded."""

    claim: Claim
    result: SendResult
    step: NextStep
    now: datetime
