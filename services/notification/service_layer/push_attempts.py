"""Each push the delivery worker starts: made to its webhook or exchange partner, and its attempt recorded.

Failure policy: a receiver's failure (non-2xx, timeout, refused connection)
is an attempt, recorded and rescheduled with backoff until the last attempt
of the round, then the notice is marked failed (it stays in the inbox; a
redelivery starts a new round). A permanent failure of our own fails the
delivery at once, with the reason recorded where the bureau sees failed
deliveries: CannotPush (a webhook secret sealed with another key), or a
destination our own rule refuses (an internal address, see
domain/destinations.py; no request is made). A passing failure of our own
(database down) is logged and left to the lease: the row becomes due
again, nothing is lost. Notices failed for good, either way, are logged
per receiver: the first at once, then a count a minute with their ids
(domain/failed_notices.py), so a receiver down for a day is not a line per
notice.

Attempts that finish together are recorded in one transaction
(shared/db/group_commit.py), each push still waiting for its own record
before it counts as done.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.delivery_claims import Attempted, Claim
from services.notification.adapters.metrics import PUSH_ATTEMPTS, PUSH_FAILURES
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.sender import SendResult, WebhookSender
from services.notification.adapters.webhooks import WebhookStore
from services.notification.domain import payload
from services.notification.domain.backoff import (
    BackoffPolicy,
    CannotPush,
    NextStep,
    Outcome,
    after_attempt,
)
from services.notification.domain.failed_notices import Failed, FailedNotices
from services.notification.domain.failing_receivers import FailingReceivers, Say
from services.notification.domain.signing import signed_headers
from services.notification.service_layer.documents import document_of
from services.notification.service_layer.exchange_ftp_outbound import FtpItem
from services.notification.service_layer.exchange_outbound import OutboundExchange, Refusal, door_accepted
from shared.clock import Clock
from shared.db.group_commit import GroupCommit
from shared.sealing import SealError, UnknownKeyId

log = structlog.get_logger(__name__)


class PushAttempts:
    """Makes a claim's push and records its attempt; the worker (service_layer/delivery.py) says when.

    `answered` is told as soon as the request is over (or the sender refused to make it), before the
    attempt is recorded: the worker paces the recipient by the answer and frees its slot. `wake` asks
    the worker to claim again (a redelivery began a new round meanwhile); `on_recorded` is called
    after each recorded attempt.
    """

    def __init__(
        self,
        *,
        store: DeliveryStore,
        webhooks: WebhookStore,
        sender: WebhookSender,
        clock: Clock,
        policy: BackoffPolicy,
        record_link_base: str,
        sealed: SealedNotices,
        answered: Callable[[Claim, SendResult], None],
        wake: Callable[[], None],
        on_recorded: Callable[[], None],
        exchange: OutboundExchange | None,
    ) -> None:
        self._store, self._webhooks = store, webhooks
        self._sender, self._clock, self._policy = sender, clock, policy
        self._record_link_base = record_link_base
        self._sealed = sealed
        self._answered, self._wake = answered, wake
        self._on_recorded = on_recorded  # wakes the outbox relay: a status event may be waiting
        self._exchange = exchange  # messages to exchange partners: the same schedule, another request
        self._failing = FailingReceivers()  # which failed attempts get a log line
        self._failed_notices = FailedNotices()  # which notices failed for good get a log line
        # attempts finishing together are recorded in one transaction, each push still awaiting its own
        self._recorder: GroupCommit[Attempted, NextStep] = GroupCommit(
            self._record_batch, exclusive=lambda attempted: attempted.claim.notice_id
        )

    async def attempt(self, claim: Claim) -> None:
        try:
            try:
                await self._push(claim)
            except SealError as error:
                # the notice's person (or a partner message's part) does not open with POPFLOW_DATA_KEYS: a key
                # retired while rows still used it. No retry opens it; left to its lease it came due again for
                # ever, never counted, never in the failed list. Failed, for the bureau to see and redeliver
                # once the key is back.
                why = str(error) if isinstance(error, UnknownKeyId) else type(error).__name__  # a key id, no value
                await self._fail_at_once(claim, f"the notice's sealed data does not open: {why}")
        except Exception as error:
            log.warning(
                "push could not be recorded; retried when its lease ends",
                notice_id=claim.notice_id,
                recipient=claim.recipient_code,
                error=type(error).__name__,
            )

    async def _push(self, claim: Claim) -> None:
        if claim.exchange_code is not None:
            await self._push_to_partner(claim)
            return
        notice, subscription = claim.notice, claim.subscription
        if notice is None or subscription is None:
            await self._store.cancel(claim.notice_id, now=self._clock.now())
            log.info("push cancelled: no webhook", notice_id=claim.notice_id, recipient=claim.recipient_code)
            return
        document = document_of(notice, self._record_link_base, self._sealed, person=claim.person)
        try:
            target = self._webhooks.target_of(subscription)
        except CannotPush as error:
            await self._fail_at_once(claim, str(error))
            return
        body = payload.webhook_body(document)
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            "content-type": "application/json",
            **signed_headers(target.secret, notice.notice_id, timestamp, body),
        }
        result = await self._sender.send(target.url, body, headers)
        self._answered(claim, result)
        if result.refused:  # an internal address stays refused: no retry, the reason for the bureau
            await self._fail_at_once(claim, result.error or "refused: the webhook destination")
            return
        await self._record(claim, result)

    async def _push_to_partner(self, claim: Claim) -> None:
        """A message to an exchange partner: the same schedule and attempt log, the partner's door and keys.

        Nothing to send it with (an unconfigured partner, a missing key) fails it
        at once with the reason, for the bureau to see and redeliver once fixed.
        """
        if self._exchange is None:
            await self._fail_at_once(claim, "this process does not send to exchange partners")
            return
        request = await self._exchange.request_for(claim)
        if isinstance(request, Refusal):
            await self._fail_at_once(claim, request.reason)
            return
        if isinstance(request, FtpItem):
            result = await self._exchange.upload(request)
        else:
            result = await self._sender.send(request.url, request.body, request.headers, accepts=door_accepted)
        self._answered(claim, result)
        if result.refused:  # the partner's address is not allowed (NOTIFICATION_WEBHOOK_ALLOW): no retry would pass
            await self._fail_at_once(claim, result.error or "refused: the partner's address")
            return
        await self._record(claim, result)

    async def _fail_at_once(self, claim: Claim, reason: str) -> None:
        now = self._clock.now()
        failed = SendResult(None, 0.0, reason[:200])
        recorded = await self._recorder.submit(Attempted(claim, failed, NextStep(Outcome.FAILED), now))
        PUSH_ATTEMPTS.labels(recorded.outcome.value).inc()
        PUSH_FAILURES.inc()
        if recorded.outcome is not Outcome.FAILED:  # a redelivery began a new round meanwhile: its first push is due
            self._wake()
            log.warning("push failed; a new round was asked for meanwhile", notice_id=claim.notice_id, reason=reason)
            return
        self._log_failed_for_good(claim, now, reason=reason, status_code=None)

    async def _record(self, claim: Claim, result: SendResult) -> None:
        now = self._clock.now()
        step = after_attempt(
            succeeded=result.delivered,
            attempt=claim.round_attempts + 1,
            policy=self._policy,
            now=now,
            uniform=random.uniform,
        )
        recorded = await self._recorder.submit(Attempted(claim, result, step, now))
        PUSH_ATTEMPTS.labels(recorded.outcome.value).inc()
        if step.outcome is not Outcome.DELIVERED:
            PUSH_FAILURES.inc()
        self._on_recorded()
        if recorded != step:  # a redelivery began a new round during the push: its first push is due now
            self._wake()
        self._log_receiver(claim, result, recorded, now)
        if recorded.outcome is Outcome.FAILED:  # the round's last attempt: the notice is failed
            self._log_failed_for_good(claim, now, reason=result.error, status_code=result.status_code)

    def _log_receiver(self, claim: Claim, result: SendResult, recorded: NextStep, now: datetime) -> None:
        """A receiver's first failure, a count of its failures a minute, its recovery (domain/failing_receivers.py).

        A delivery is counted in its batch's line (_record_batch); every attempt is in the delivery log.
        """
        receiver = claim.exchange_code or claim.recipient_code
        if result.delivered:
            if (held := self._failed_notices.delivered(receiver)) is not None:
                self._say_failed_for_good(receiver, held, reason=None, status_code=None)
            if (line := self._failing.delivered(receiver)) is not None:
                log.info("push recovered", receiver=receiver, failing_since=line.since.isoformat(), failed=line.held)
            return
        if (line := self._failing.failed(receiver, now)) is None:
            return
        log.warning(
            "push failing" if line.say is Say.FAILING else "push still failing",
            receiver=receiver,
            failing_since=line.since.isoformat(),
            failed=line.held or None,  # attempts since the last line, this one included
            notice_id=claim.notice_id,
            attempt=claim.total_attempts + 1,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            outcome=recorded.outcome.value,
        )

    def tell_held(self, now: datetime) -> None:
        """The counts of notices failed for good held for a minute and not told since (no later failure or delivery
        of their receiver to tell them with): told now. The worker calls it at each pass."""
        for receiver, failed in self._failed_notices.due(now):
            self._say_failed_for_good(receiver, failed, reason=None, status_code=None)

    def _log_failed_for_good(self, claim: Claim, now: datetime, *, reason: str | None, status_code: int | None) -> None:
        """A receiver's first notice failed for good, then a count of them a minute (domain/failed_notices.py).

        Each notice's status is recorded all the same: failed in its inbox and in GET /v1/deliveries/failed.
        """
        receiver = claim.exchange_code or claim.recipient_code
        if (failed := self._failed_notices.failed(receiver, claim.notice_id, now)) is not None:
            self._say_failed_for_good(receiver, failed, reason=reason, status_code=status_code)

    @staticmethod
    def _say_failed_for_good(receiver: str, failed: Failed, *, reason: str | None, status_code: int | None) -> None:
        log.error(
            "push failed for good",
            receiver=receiver,
            failed_for_good=failed.count,  # notices since the receiver's last such line, this one included
            notice_ids=list(failed.notice_ids),  # ids only: never a person's name or identity number
            first_failed_at=failed.since.isoformat(),
            reason=reason,  # the latest notice's; None on a line of those held (told at a delivery, or a minute on)
            status_code=status_code,
            outcome=Outcome.FAILED.value,
        )

    async def _record_batch(self, attempts: Sequence[Attempted]) -> list[NextStep]:
        """Record the attempts that finished together, and log them in one line naming the delivered notices.

        Each attempt is in the delivery log (GET .../deliveries) with its status and
        latency; failures are told per receiver (_log_receiver, _fail_at_once).
        A line per delivered push was 6 % of a push burst's CPU (docs/performance.md, round 4).
        """
        done = await self._store.record_many(attempts)
        if not any(step.outcome is Outcome.DELIVERED for step in done):
            return done  # failures only: a failing receiver has its own lines (_log_receiver)
        outcomes = Counter(step.outcome.value for step in done)
        log.info(
            "pushes recorded",
            delivered_ids=[
                a.claim.notice_id for a, step in zip(attempts, done, strict=True) if step.outcome is Outcome.DELIVERED
            ],
            **{outcome.value: outcomes[outcome.value] for outcome in Outcome},
            slowest_ms=max(a.result.latency_ms for a in attempts),
        )
        return done
