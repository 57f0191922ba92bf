"""The pushes a delivery worker holds and each recipient's window: which of them may start now.

A push is held from its claim or hand-off until its attempt is recorded. At most
the recipient's window of requests are in flight to one recipient (domain/pacing.py:
it starts at `per_recipient`, widens towards `per_recipient_most` while the
recipient answers 2xx with more of its pushes waiting, and halves for each failed
attempt) and `max_in_flight` requests overall (a recipient's slot is freed when its
request is over, while the attempt is being recorded). Up to a window more pushes
of a recipient are claimed ahead and wait in memory for its next free slot. A
recipient with no room left is left out of the next claim, so a hanging receiver
holds only its own slots. All of it is per process, in memory: a crash loses no
push, as their leases make them due again.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterator

from services.notification.adapters.delivery_claims import Claim
from services.notification.adapters.metrics import PUSH_WINDOW
from services.notification.adapters.sender import SendResult
from services.notification.domain.pacing import Pacing


class HeldPushes:
    """Counts what one DeliveryWorker holds against each recipient's window and its own cap.

    The worker starts and ends the pushes; this says which may start, and how much more may be claimed.
    """

    def __init__(self, pacing: Pacing, max_in_flight: int) -> None:
        self._pacing, self._max_in_flight = pacing, max_in_flight
        self._windows: dict[str, float] = {}  # recipients' windows (domain/pacing.py); absent: at its start
        self._most_held = max(2 * pacing.start, max_in_flight // 2)  # by one recipient (room)
        self._in_flight: Counter[str] = Counter()  # requests under way, by recipient
        # requests under way, all recipients: at most max_in_flight, however many claims are held. A hand-off and
        # a claim reckon their room each from the same pushes held, and together could hold twice the cap; the
        # extra ones waited for one of aiohttp's connections (as many as the cap) inside their timeout
        self._requests = 0
        self._notices: set[str] = set()  # held: one claimed or handed off again is not taken twice
        self._holding_slot: set[str] = set()  # notices whose request to the recipient is not over yet
        # claimed pushes, each with when it was claimed, waiting for a slot of their recipient: up to its window
        # more than it has in flight, so a freed slot starts the next push at once instead of after a claim's round trip
        self._waiting: dict[str, deque[tuple[Claim, float]]] = defaultdict(deque)

    def held(self, code: str | None = None) -> int:
        """Pushes in flight and claimed-and-waiting, of one recipient or of all."""
        if code is not None:
            return self._in_flight[code] + len(self._waiting.get(code, ()))
        return sum(self._in_flight.values()) + sum(len(q) for q in self._waiting.values())

    def free(self) -> int:
        """How many more pushes this worker may hold, of any recipients."""
        return self._max_in_flight - self.held()

    def room(self, code: str) -> int:
        """How many more pushes of a recipient may be held: in flight plus as many waiting for a slot.

        A window widened past its start holds no more than half the process's pushes (or twice its
        start, all it could hold before windows widened): should the recipient then hang, the other
        recipients keep the other half until its timeouts narrow its window."""
        return min(2 * self._slots(code), self._most_held) - self.held(code)

    def busy(self) -> set[str]:
        """The recipients with no room left: a claim leaves their pushes due."""
        codes = set(self._in_flight) | set(self._waiting)
        return {code for code in codes if self.room(code) <= 0}

    def at_cap(self) -> bool:
        return self._requests >= self._max_in_flight

    def hold(self, claims: list[Claim], claimed_at: float) -> None:
        """The claims wait for their recipients' slots; one already held is not held twice."""
        for claim in claims:
            if claim.notice_id not in self._notices:
                self._notices.add(claim.notice_id)
                self._waiting[claim.recipient_code].append((claim, claimed_at))

    def startable(self, code: str) -> Iterator[tuple[Claim, float]]:
        """The recipient's waiting claims, oldest first, while it has a free slot and the cap has room.

        Each one yielded has left the queue: the caller starts it (start) before asking for the next,
        or lets it go (let_go)."""
        waiting = self._waiting.get(code)
        while waiting and self._in_flight[code] < self._slots(code) and not self.at_cap():
            yield waiting.popleft()
        if waiting is not None and not waiting:
            self._waiting.pop(code, None)

    def start(self, claim: Claim) -> None:
        """The claim's request begins: it takes one of its recipient's slots and one of the cap's."""
        self._in_flight[claim.recipient_code] += 1
        self._requests += 1
        self._holding_slot.add(claim.notice_id)

    def release(self, claim: Claim) -> bool:
        """The claim's request is over: its slot is free (False: it was freed already).

        The notice itself stays held (not claimed again) until let go, once its attempt is recorded.
        """
        if claim.notice_id not in self._holding_slot:
            return False
        self._holding_slot.discard(claim.notice_id)
        self._in_flight[claim.recipient_code] -= 1
        self._requests -= 1
        if self._in_flight[claim.recipient_code] <= 0:
            del self._in_flight[claim.recipient_code]
        return True

    def let_go(self, claim: Claim) -> None:
        """The notice is no longer held: a later claim or hand-off may take it again."""
        self._notices.discard(claim.notice_id)

    def waiting_recipients(self) -> list[str]:
        return list(self._waiting)

    def forget_waiting(self) -> None:
        """Nothing waiting will start (the worker stops): those claims come back when their leases end."""
        self._waiting.clear()

    def pace(self, claim: Claim, result: SendResult) -> None:
        """The recipient's window after this answer (before its slot is freed, so `waiting` is the backlog).

        A refused result made no request: the recipient said nothing of its pace."""
        if result.refused:
            return
        code = claim.recipient_code
        window = self._window(code)
        paced = self._pacing.after(window, delivered=result.delivered, waiting=bool(self._waiting.get(code)))
        self._windows[code] = paced
        if paced != window:
            PUSH_WINDOW.labels(code).set(self._pacing.slots(paced))

    def _window(self, code: str) -> float:
        return self._windows.get(code, self._pacing.start)

    def _slots(self, code: str) -> int:
        return self._pacing.slots(self._window(code))
