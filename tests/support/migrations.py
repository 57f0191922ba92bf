"""Every migration history the project has, by name: each service's, the key store's and the sealing sentinel's."""

from __future__ import annotations

from services.intake.bootstrap import MIGRATIONS as INTAKE
from services.notification.bootstrap import MIGRATIONS as NOTIFICATION
from services.reporting.bootstrap import MIGRATIONS as REPORTING
from services.routing.bootstrap import MIGRATIONS as ROUTING
from shared.auth.store import MIGRATIONS as KEYS
from shared.db.sentinel import MIGRATIONS as SENTINEL

HISTORIES = {
    "intake": INTAKE,
    "routing": ROUTING,
    "notification": NOTIFICATION,
    "reporting": REPORTING,
    "keys": KEYS,
    "sentinel": SENTINEL,
}
