"""The delivery worker: pushes due notices to their webhooks, one attempt at a time.

Each push, its failure policy and the record of its attempt are in
service_layer/push_attempts.py; here, which pushes start and when. A claim
that fails (database down) is logged and tried again at the next poll.

Concurrency: each recipient's window of requests in flight and `max_in_flight`
overall are counted in service_layer/held_pushes.py. Up to a window more pushes
of a recipient are claimed ahead and wait in memory for its next free slot, so a
push starts without waiting for a claim's round trip; their leases run as for
any claim, so a crash leaves them due again. New notices' pushes are taken the
same way straight from the transaction that stores them (`handoff`,
service_layer/receiving.py), without a claim. A recipient at its limit is left
out of the claim, so a hanging receiver holds only its own slots (each freed by
the HTTP timeout) and never those of other recipients. The limits and windows
are per process; several replicas share the work safely through SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.delivery_claims import Claim, Handoff
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.sender import SendResult, WebhookSender
from services.notification.adapters.webhooks import WebhookStore
from services.notification.domain.backoff import BackoffPolicy
from services.notification.domain.pacing import Pacing
from services.notification.service_layer.exchange_outbound import OutboundExchange
from services.notification.service_layer.held_pushes import HeldPushes
from services.notification.service_layer.push_attempts import PushAttempts
from shared.background import woken_or_after
from shared.clock import Clock

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    """How much one worker process pushes at once, and for how long it holds a claim (bootstrap.py derives them
    from the settings). Per process: each replica has its own."""

    per_recipient: int  # a recipient's window to begin with
    max_in_flight: int
    lease_s: float
    poll_interval_s: float
    per_recipient_most: int | None = None  # the widest a recipient's window grows; None: per_recipient, fixed

    def pacing(self) -> Pacing:
        return Pacing(self.per_recipient, self.per_recipient_most or self.per_recipient)


class DeliveryWorker:
    """Decides which claimed push starts when, within each recipient's window and `max_in_flight` overall.

    One per process, so that pacing and limits are counted in one place; each push itself is PushAttempts'.
    """

    def __init__(
        self,
        *,
        store: DeliveryStore,
        webhooks: WebhookStore,
        sender: WebhookSender,
        clock: Clock,
        policy: BackoffPolicy,
        limits: WorkerLimits,
        record_link_base: str,
        sealed: SealedNotices,
        on_recorded: Callable[[], None] = lambda: None,
        exchange: OutboundExchange | None = None,
    ) -> None:
        self._store, self._clock, self._limits = store, clock, limits
        self._attempts = PushAttempts(
            store=store,
            webhooks=webhooks,
            sender=sender,
            clock=clock,
            policy=policy,
            record_link_base=record_link_base,
            sealed=sealed,
            answered=self._answered,
            wake=self.wake,
            on_recorded=on_recorded,
            exchange=exchange,
        )
        self._pushes = HeldPushes(limits.pacing(), limits.max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()  # each push started, until its attempt is recorded
        self._stopping = False
        self._running = False  # run() is pushing: only then are pushes handed to it (handoff)
        self._wake = asyncio.Event()
        # the schedule may hold due pushes this worker has not claimed (a claim left some, or something was
        # stored or made due since): only then is a freed slot worth a claim. A steady stream of handed-off
        # pushes leaves nothing due, and a claim per finished push was a tenth of the CPU per notice.
        self._due_left = True
        self._signals = 0  # wake() calls so far: one during a claim's query keeps _due_left set

    def wake(self) -> None:
        """Something may be due now (stored due, redelivered, a webhook added): claim it."""
        self._due_left = True
        self._signals += 1
        self._wake.set()

    def _slot_freed(self) -> None:
        if self._due_left:
            self._wake.set()

    async def run(self) -> None:
        """Claim and push until cancelled; in-flight pushes are cancelled with it (their leases expire)."""
        self._running = True
        try:
            while True:
                self._wake.clear()
                claimed = await self._claim_safely()
                if claimed == 0 or self._pushes.free() <= 0 or not self._due_left:
                    await woken_or_after(self._wake, self._limits.poll_interval_s)
        finally:
            # no push starts from here on: the claims waiting for a slot come back when their leases end
            self._stopping, self._running = True, False
            self._pushes.forget_waiting()
            for task in list(self._tasks):
                task.cancel()

    async def deliver_due(self) -> int:
        """Claim what is due now and push it; returns when those pushes are done (for tests)."""
        claimed = await self._claim()
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        return claimed

    async def _claim_safely(self) -> int:
        try:
            return await self._claim()
        except Exception as error:
            self._due_left = True
            log.warning("claiming deliveries failed", error=type(error).__name__)
            return 0

    async def _claim(self) -> int:
        now = self._clock.now()
        self._attempts.tell_held(now)
        free = self._pushes.free()
        if free <= 0:
            return 0
        busy = self._pushes.busy()
        signals = self._signals
        claims, more = await self._store.claim(
            now=now, lease_until=self._lease_from(now), limit=free, busy=busy, room=self._pushes.room
        )
        self._due_left = more or bool(busy) or self._signals != signals
        self.take(claims)
        return len(claims)

    def handoff(self) -> Handoff | None:
        """Room for new pushes taken straight from the transaction that stores their notices (see Handoff)."""
        free = self._pushes.free()
        if not self._running or self._stopping or free <= 0:
            return None
        return Handoff(lease_until=self._lease_from(self._clock.now()), limit=free, room=self._pushes.room)

    def take(self, claims: list[Claim], *, claimed_at: float | None = None) -> None:
        """Push the claims (from a claim, or handed off by the store) as their recipients' slots allow.

        `claimed_at` (time.monotonic()) is when their lease began: a hand-off's lease runs from
        before the storing transaction, so its wait counts from there, not from now.
        """
        self._pushes.hold(claims, time.monotonic() if claimed_at is None else claimed_at)
        for code in {claim.recipient_code for claim in claims}:
            self._start_waiting(code)

    def _answered(self, claim: Claim, result: SendResult) -> None:
        """The request to the recipient is over (PushAttempts): its window paced by the answer, its slot freed."""
        self._pushes.pace(claim, result)
        self._release_slot(claim)

    def _lease_from(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self._limits.lease_s)

    def _start_waiting(self, code: str) -> None:
        """Start the recipient's waiting claims while it has free slots.

        A claim that waited past half its lease is let go rather than pushed: its lease may end
        before its attempt is recorded, and another worker would push it again. It comes back
        when its lease ends. (The lease allows one push's wait, so this is for the unexpected.)
        """
        if self._stopping:
            return
        for claim, claimed_at in self._pushes.startable(code):
            if time.monotonic() - claimed_at > self._limits.lease_s / 2:
                self._pushes.let_go(claim)
                log.warning("claim waited too long; left to its lease", notice_id=claim.notice_id)
                continue
            self._start(claim)

    def _start(self, claim: Claim) -> None:
        self._pushes.start(claim)
        task = asyncio.create_task(self._attempts.attempt(claim), name=f"push-{claim.notice_id}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._finished(t, claim))

    def _finished(self, task: asyncio.Task[None], claim: Claim) -> None:
        self._tasks.discard(task)
        self._release_slot(claim)
        self._pushes.let_go(claim)
        self._slot_freed()

    def _release_slot(self, claim: Claim) -> None:
        """The recipient's slot is free once its request is over; recording the attempt is our own work.

        The notice itself stays in flight (not claimed again) until its attempt is recorded.
        """
        pushes = self._pushes
        capped = pushes.at_cap()  # till now: claims of others may wait for the cap
        if not pushes.release(claim):
            return
        self._start_waiting(claim.recipient_code)
        for code in pushes.waiting_recipients() if capped else ():  # held back by the cap, not their recipient's slots
            if pushes.at_cap():
                break
            self._start_waiting(code)
        self._slot_freed()
