"""Notification's own Prometheus series (the shared ones are in shared/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PUSH_ATTEMPTS = Counter(
    "popflow_webhook_attempts_total",
    "Webhook push attempts, by outcome: delivered, retry (failed, will be retried) or failed (round given up)",
    ["outcome"],
    registry=None,
)
PUSH_WINDOW = Gauge(
    "popflow_webhook_window",
    "Pushes one recipient may have in flight in this process: its window, which widens while the recipient "
    "answers 2xx with more waiting and halves for each failed attempt (1: it is failing)",
    ["recipient"],
    registry=None,
)
PUSH_FAILURES = Counter(
    "popflow_webhook_attempt_failures_total",
    "Webhook push attempts that failed (non-2xx answer, timeout, refused connection)",
    registry=None,
)
