"""The delivery worker as the exchange tests build it: a partner's messages pushed by the real worker, the
schedule on the test's database, three attempts a round (1 s, then up to 4 s apart)."""

from __future__ import annotations

from typing import Any

from services.notification.adapters.deliveries import DeliveryStore
from services.notification.adapters.sealed import SealedNotices
from services.notification.adapters.secrets import SecretBox
from services.notification.adapters.webhooks import WebhookStore
from services.notification.domain.backoff import BackoffPolicy
from services.notification.service_layer.delivery import DeliveryWorker, WorkerLimits
from services.notification.service_layer.exchange_outbound import OutboundExchange

LIMITS = WorkerLimits(per_recipient=2, max_in_flight=10, lease_s=60, poll_interval_s=0.1)


def exchange_worker(
    deliveries: DeliveryStore,
    sessions: Any,
    *,
    sender: Any,
    clock: Any,
    sealed: SealedNotices,
    exchange: OutboundExchange,
    limits: WorkerLimits = LIMITS,
) -> DeliveryWorker:
    return DeliveryWorker(
        store=deliveries,
        webhooks=WebhookStore(sessions, SecretBox("test-box-key")),
        sender=sender,
        clock=clock,
        policy=BackoffPolicy(base_s=1.0, cap_s=4.0, max_attempts=3),
        limits=limits,
        record_link_base="http://intake/v1/records/",
        sealed=sealed,
        exchange=exchange,
    )
