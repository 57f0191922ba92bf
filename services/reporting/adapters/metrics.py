"""Reporting's own Prometheus series (the shared ones are in shared/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS_FOLDED = Counter(
    "popflow_reporting_events_folded_total",
    "Events read and folded into the fact tables (its rate is the fold rate)",
    registry=None,
)
EXPORT_FAILURES = Counter(
    "popflow_reporting_export_failures_total",
    "Failed attempts of the scheduled weekly export (each is retried; /readyz lists weeks not yet written)",
    registry=None,
)
