"""The stores and outbound clients that workers and routes share: built once per app, connecting to nothing yet."""

from __future__ import annotations

from dataclasses import dataclass

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.destinations import DestinationGuard
from services.notification.adapters.exchange_store import ExchangeStore, owe_answer
from services.notification.adapters.ftp_first_listings import FirstListings
from services.notification.adapters.inbox import Inbox
from services.notification.adapters.outbox import StatusEvents
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.secrets import SecretBox
from services.notification.adapters.sender import PinnedWebhookSender, WebhookSender
from services.notification.adapters.webhooks import WebhookStore
from services.notification.domain.destinations import DestinationPolicy
from services.notification.settings import NotificationSettings
from shared.clock import Clock
from shared.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Clients:
    """One of each, so the push worker, the exchange and the routes read and write through the same objects."""

    clock: Clock
    guard: DestinationGuard  # which webhook addresses may be pushed to, checked at subscription and at push
    sender: WebhookSender
    sealed: SealedNotices
    secret_box: SecretBox  # seals webhook secrets and the keys office sessions keep
    inbox: Inbox
    webhooks: WebhookStore
    deliveries: DeliveryStore
    exchange_store: ExchangeStore
    ftp_first_listings: FirstListings  # the FTP poller's orphans, timed past a restart


def build_clients(
    settings: NotificationSettings, runtime: Runtime, *, sender: WebhookSender | None, clock: Clock
) -> Clients:
    """`sender` is a test's fake; without one, pushes go through a sender pinned to the address it checked."""
    guard = DestinationGuard(DestinationPolicy.parse(settings.webhook_allow))
    key_secret = settings.person_key_secret.get_secret_value()
    sealed = SealedNotices(runtime.keyring)
    events = StatusEvents(key_secret.encode(), sealed)
    box = SecretBox(settings.webhook_secret_key.get_secret_value() if settings.webhook_secret_key else key_secret)
    inbox = Inbox(runtime.sessions, events, sealed, served_districts=settings.served_districts, answers_owed=owe_answer)
    sender = sender or PinnedWebhookSender(
        timeout_s=settings.webhook_timeout_s, max_connections=settings.max_concurrent_deliveries, guard=guard
    )
    return Clients(
        clock=clock,
        guard=guard,
        sender=sender,
        sealed=sealed,
        secret_box=box,
        inbox=inbox,
        webhooks=WebhookStore(runtime.sessions, box),
        deliveries=DeliveryStore(runtime.sessions, events),
        exchange_store=ExchangeStore(runtime.sessions, inbox),
        ftp_first_listings=FirstListings(runtime.sessions),
    )
