"""Notification's HTTP edge: inbox and notices, deliveries, webhook subscriptions.

Every route needs an API key (401 without); anything outside the key's scope
is answered 404, as if it did not exist.
"""

from services.notification.entrypoints.http.deliveries import deliveries_router
from services.notification.entrypoints.http.exchange import exchange_router
from services.notification.entrypoints.http.notices import notices_router
from services.notification.entrypoints.http.webhooks import webhooks_router

__all__ = ["deliveries_router", "exchange_router", "notices_router", "webhooks_router"]
