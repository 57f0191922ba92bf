"""Reporting's own Prometheus series (the shared ones are in shared/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS_FOLDED = Counter(
    "popflow_reporting_events_folded_total",
    "Events read and folded into the fact tables (its rate is the fold rate)",
    registry=None,
)
