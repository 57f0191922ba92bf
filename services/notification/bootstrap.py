"""Notification's composition root: settings (and, in tests, a sender and a clock) in, an app out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.destinations import RESOLVE_TIMEOUT_S, DestinationGuard
from services.notification.adapters.exchange_store import ExchangeStore, owe_answer
from services.notification.adapters.ftp_drop import FtpAccount, FtpDrop
from services.notification.adapters.inbox import Inbox
from services.notification.adapters.metrics import PUSH_ATTEMPTS, PUSH_FAILURES, PUSH_WINDOW
from services.notification.adapters.office_sessions import OfficeSessions
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.reporting_client import ReportingClient
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.secrets import SecretBox
from services.notification.adapters.sender import PinnedWebhookSender, WebhookSender
from services.notification.adapters.tables import OutboxRow
from services.notification.adapters.webhooks import WebhookStore
from services.notification.domain.backoff import BackoffPolicy
from services.notification.domain.destinations import DestinationPolicy
from services.notification.entrypoints.http import deliveries_router, exchange_router, notices_router, webhooks_router
from services.notification.entrypoints.kafka import register_consumers
from services.notification.entrypoints.office import office_router
from services.notification.service_layer.delivery import DeliveryWorker, WorkerLimits
from services.notification.service_layer.exchange_acks import Acknowledgements
from services.notification.service_layer.exchange_door import ExchangeDoor
from services.notification.service_layer.exchange_ftp_inbound import FtpPoller
from services.notification.service_layer.exchange_outbound import OutboundExchange, OwnKeys
from services.notification.service_layer.exchange_overview import ExchangeOverview
from services.notification.service_layer.exchange_redelivery import ExchangeRedelivery
from services.notification.service_layer.notices import Notices
from services.notification.service_layer.office import Desk
from services.notification.service_layer.push_follow_up import PushFollowUp
from services.notification.service_layer.receiving import NoticeReceiver
from services.notification.service_layer.subscriptions import Subscriptions
from services.notification.settings import NotificationSettings
from shared.auth.dependencies import bearer_principal
from shared.background import BackgroundTask
from shared.clock import Clock, SystemClock
from shared.db.outbox import OutboxRelay
from shared.db.outbox_purge import OutboxPurge
from shared.db.outbox_set_aside import SetAsideRows
from shared.directory import load_directory
from shared.exchange.partners_file import PartnersFile
from shared.http.outbox_admin import outbox_admin_router
from shared.logging import configure_logging
from shared.runtime import build_runtime, lifespan_of, service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: NotificationSettings | None = None, *, sender: WebhookSender | None = None, clock: Clock | None = None
) -> FastAPI:
    settings = settings or NotificationSettings()
    configure_logging(service="notification", level=settings.log_level, fmt=settings.log_format)
    # its claims and push records join deliveries and notices, tables that grow by every notice
    runtime = build_runtime(settings, service="notification", plan_each_time=True)
    clock = clock or SystemClock()
    guard = DestinationGuard(DestinationPolicy.parse(settings.webhook_allow))
    sender = sender or PinnedWebhookSender(
        timeout_s=settings.webhook_timeout_s, max_connections=settings.max_concurrent_deliveries, guard=guard
    )
    key_secret = settings.person_key_secret.get_secret_value()
    sealed = SealedNotices(runtime.keyring)
    events = StatusEvents(key_secret.encode(), sealed)
    box = SecretBox(settings.webhook_secret_key.get_secret_value() if settings.webhook_secret_key else key_secret)
    inbox = Inbox(runtime.sessions, events, sealed, served_districts=settings.served_districts, answers_owed=owe_answer)
    webhooks, deliveries = WebhookStore(runtime.sessions, box), DeliveryStore(runtime.sessions, events)
    exchange_store, partners = ExchangeStore(runtime.sessions, inbox), PartnersFile(settings.partners_file).current
    own_keys = OwnKeys(
        _plain(settings.exchange_signing_key),
        _plain(settings.exchange_sealing_key),
        _plain(settings.exchange_previous_sealing_key),
    )
    outbound = OutboundExchange(
        partners=partners,
        store=exchange_store,
        keys=own_keys,
        served_districts=settings.served_districts,
        clock=clock,
        sealed=sealed,
        ftp_batch_window_s=settings.exchange_ftp_batch_window_s,
        ftp_max_batch=settings.exchange_ftp_max_batch,
        ftp_ca_file=str(settings.exchange_ftp_ca_file) if settings.exchange_ftp_ca_file else None,
    )
    # status events (NoticeDelivered, answers) feed timeliness figures, not a waiting clerk: a pass per tenth
    # of a second carries a steady stream's events in a few batches instead of a pass per recorded push
    relay = OutboxRelay(
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
    worker = DeliveryWorker(
        store=deliveries,
        webhooks=webhooks,
        sender=sender,
        clock=clock,
        policy=BackoffPolicy(settings.retry_base_s, settings.retry_cap_s, settings.retry_max_attempts),
        limits=WorkerLimits(
            per_recipient=settings.per_recipient_concurrency,
            per_recipient_most=settings.per_recipient_most,
            max_in_flight=settings.max_concurrent_deliveries,
            # a push ends within the address check and the HTTP timeout; a claim made ahead waits at most
            # one such push for its slot; the margin covers recording it
            lease_s=2 * (settings.webhook_timeout_s + RESOLVE_TIMEOUT_S) + settings.claim_margin_s,
            poll_interval_s=settings.poll_interval_s,
        ),
        record_link_base=settings.record_link_base,
        sealed=sealed,
        on_recorded=relay.wake,
        exchange=outbound,
    )
    relay.measure(runtime.metrics)
    runtime.metrics.register(PUSH_ATTEMPTS, PUSH_FAILURES, PUSH_WINDOW)
    receiver = NoticeReceiver(inbox=inbox, worker=worker, clock=clock)
    register_consumers(runtime.broker, runtime.topics, receiver=receiver, keyring=runtime.keyring)

    async def push() -> None:
        try:
            await worker.run()
        finally:
            if isinstance(sender, PinnedWebhookSender):
                await sender.close()

    door = ExchangeDoor(
        partners=partners,
        store=exchange_store,
        inbox=inbox,
        keys=own_keys,
        served_districts=settings.served_districts,
        clock=clock,
        directory=load_directory(),
        on_scheduled=worker.wake,
        tolerance_s=settings.exchange_tolerance_s,
    )
    purge = OutboxPurge(runtime.sessions, OutboxRow, keep=timedelta(days=settings.outbox_keep_days))
    background = [
        BackgroundTask("outbox-relay", relay.run, single=True),
        BackgroundTask("outbox-purge", purge.run, single=True),
        BackgroundTask("push", push),
    ]
    if settings.exchange_ftp_host:
        acks = Acknowledgements(
            partners=partners,
            outbound=outbound,
            door=door,
            store=exchange_store,
            served_districts=settings.served_districts,
            clock=clock,
            max_age_s=settings.exchange_ftp_max_age_s,
        )
        poller = _ftp_poller(settings, door, exchange_store, clock, acks)
        background.append(BackgroundTask("ftp-poll", poller.run, single=True))
    lifespan = lifespan_of(runtime, MIGRATIONS, background=background)

    authenticate = bearer_principal(runtime.keys)
    follow_up = PushFollowUp(inbox=inbox, store=deliveries, clock=clock, wake=worker.wake)
    notices = Notices(inbox, clock, load_directory())
    desk = Desk(
        notices=notices,
        inbox=inbox,
        sessions=OfficeSessions(runtime.sessions, box, lifetime=timedelta(minutes=settings.office_session_minutes)),
        keys=runtime.keys,
        reporting=ReportingClient(settings.reporting_url),
        clock=clock,
        zone=settings.zone,
        sealed=sealed,
    )
    routers = [
        office_router(
            desk, secure_cookie=settings.secure_office_cookie, lifetime_s=settings.office_session_minutes * 60
        ),
        notices_router(
            notices=notices, authenticate=authenticate, record_link_base=settings.record_link_base, sealed=sealed
        ),
        deliveries_router(follow_up=follow_up, authenticate=authenticate),
        webhooks_router(subscriptions=Subscriptions(webhooks, clock, guard), authenticate=authenticate),
        exchange_router(
            door=door,
            overview=ExchangeOverview(
                partners=partners, store=exchange_store, served_districts=settings.served_districts
            ),
            redelivery=ExchangeRedelivery(
                partners=partners,
                store=exchange_store,
                served_districts=settings.served_districts,
                clock=clock,
                wake=worker.wake,
            ),
            authenticate=authenticate,
        ),
        outbox_admin_router(authenticate=authenticate, rows=SetAsideRows(runtime.sessions, OutboxRow, wake=relay.wake)),
    ]
    return service_app(runtime, title="PopFlow notification", routers=routers, lifespan=lifespan, status=relay.shown)


def _ftp_poller(
    settings: NotificationSettings, door: ExchangeDoor, store: ExchangeStore, clock: Clock, acks: Acknowledgements
) -> FtpPoller:
    """Our folders on the city's FTP platform, polled by one replica: partners' batches, their acknowledgements."""
    assert settings.exchange_ftp_host is not None
    account = FtpAccount(
        host=settings.exchange_ftp_host,
        port=settings.exchange_ftp_port,
        user=settings.exchange_ftp_user or "anonymous",
        password=_plain(settings.exchange_ftp_password) or "",
        tls=settings.exchange_ftp_tls,
        ca_file=str(settings.exchange_ftp_ca_file) if settings.exchange_ftp_ca_file else None,
    )
    return FtpPoller(
        drop=FtpDrop(account),
        folders=settings.exchange_ftp_folders or [f"/{code}" for code in settings.served_districts],
        door=door,
        store=store,
        clock=clock,
        interval_s=settings.exchange_ftp_poll_s,
        max_age_s=settings.exchange_ftp_max_age_s,
        acks=acks,
    )


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None
