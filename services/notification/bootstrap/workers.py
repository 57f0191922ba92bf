"""The loops notification runs beside its routes: the outbox relay, the pushes, the outbox purge, the FTP poll."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from services.notification.adapters.destinations import RESOLVE_TIMEOUT_S
from services.notification.adapters.ftp_drop import OPERATION_S
from services.notification.adapters.metrics import PUSH_ATTEMPTS, PUSH_FAILURES, PUSH_WINDOW
from services.notification.adapters.sender import PinnedWebhookSender, WebhookSender
from services.notification.adapters.tables import OutboxRow
from services.notification.bootstrap.clients import Clients
from services.notification.domain.backoff import BackoffPolicy
from services.notification.service_layer.delivery import DeliveryWorker, WorkerLimits
from services.notification.service_layer.exchange_ftp_inbound import FtpPoller
from services.notification.service_layer.exchange_outbound import OutboundExchange
from services.notification.settings import NotificationSettings
from shared.background import BackgroundTask
from shared.db.outbox import OutboxRelay
from shared.db.outbox_purge import OutboxPurge
from shared.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Workers:
    """The two loops other parts wake: the relay when a status event is recorded, the pushes when one is due."""

    relay: OutboxRelay
    push: DeliveryWorker


def build_workers(
    settings: NotificationSettings, runtime: Runtime, clients: Clients, outbound: OutboundExchange
) -> Workers:
    relay = _outbox_relay(settings, runtime)
    push = _push_worker(settings, clients, outbound, on_recorded=relay.wake)
    relay.measure(runtime.metrics)
    runtime.metrics.register(PUSH_ATTEMPTS, PUSH_FAILURES, PUSH_WINDOW)
    return Workers(relay=relay, push=push)


def background_tasks(
    settings: NotificationSettings, runtime: Runtime, clients: Clients, workers: Workers, ftp_poll: FtpPoller | None
) -> list[BackgroundTask]:
    """What the lifespan starts once Kafka is up; a `single` task runs on one replica at a time."""
    purge = OutboxPurge(runtime.sessions, OutboxRow, keep=timedelta(days=settings.outbox_keep_days))
    background = [
        BackgroundTask("outbox-relay", workers.relay.run, single=True),
        BackgroundTask("outbox-purge", purge.run, single=True),
        BackgroundTask("push", _pushes(workers.push, clients.sender)),
    ]
    if ftp_poll is not None:
        background.append(BackgroundTask("ftp-poll", ftp_poll.run, single=True))
    return background


def _outbox_relay(settings: NotificationSettings, runtime: Runtime) -> OutboxRelay:
    # status events (NoticeDelivered, answers) feed timeliness figures, not a waiting clerk: a pass per tenth
    # of a second carries a steady stream's events in a few batches instead of a pass per recorded push
    return OutboxRelay(
        runtime.sessions,
        runtime.broker,
        runtime.topics,
        OutboxRow,
        batch=500,
        linger_s=0.1,
        keep_sent=settings.outbox_keeps_sent,
        unclear_passes=settings.outbox_unclear_passes,
        unclear_for_s=settings.outbox_unclear_for_s,
    )


def _push_worker(
    settings: NotificationSettings, clients: Clients, outbound: OutboundExchange, *, on_recorded: Callable[[], None]
) -> DeliveryWorker:
    return DeliveryWorker(
        store=clients.deliveries,
        webhooks=clients.webhooks,
        sender=clients.sender,
        clock=clients.clock,
        policy=BackoffPolicy(settings.retry_base_s, settings.retry_cap_s, settings.retry_max_attempts),
        limits=WorkerLimits(
            per_recipient=settings.per_recipient_concurrency,
            per_recipient_most=settings.per_recipient_most,
            max_in_flight=settings.max_concurrent_deliveries,
            # a push ends within the address check and the HTTP timeout; a claim made ahead waits at most
            # one such push for its slot; the margin covers recording it. An FTP upload ends within its own
            # deadline (more only while a large batch's data keeps moving: ftp_drop.MIN_RATE)
            lease_s=max(2 * (settings.webhook_timeout_s + RESOLVE_TIMEOUT_S), OPERATION_S) + settings.claim_margin_s,
            poll_interval_s=settings.poll_interval_s,
        ),
        record_link_base=settings.record_link_base,
        sealed=clients.sealed,
        on_recorded=on_recorded,
        exchange=outbound,
    )


def _pushes(worker: DeliveryWorker, sender: WebhookSender) -> Callable[[], Awaitable[None]]:
    """The push loop; when it ends, the pinned sender's connections close with it (a test's own sender is its own)."""

    async def push() -> None:
        try:
            await worker.run()
        finally:
            if isinstance(sender, PinnedWebhookSender):
                await sender.close()

    return push
