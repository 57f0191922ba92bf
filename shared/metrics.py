"""Prometheus metrics: one registry per service app, served at /metrics.

Counters and histograms are process-wide objects registered in each app's
registry; gauges whose value lives elsewhere (the outbox table, the broker's
committed offsets) are read by a callback when /metrics is scraped, so
nothing polls while nobody looks. When a service runs several web workers
(shared/serving.py), PROMETHEUS_MULTIPROC_DIR is set before they start:
every worker then writes its counters and histograms to files there and a
scrape, whichever worker answers it, reports their sums.

/metrics is unauthenticated, like /healthz: bind the service to an internal
interface, or keep /metrics off the public proxy (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import Scope

log = structlog.get_logger(__name__)

HTTP_REQUESTS = Counter(
    "popflow_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
    registry=None,
)
HTTP_LATENCY = Histogram(
    "popflow_http_request_duration_seconds",
    "Time from request to the end of the answer, by route template and method",
    ["route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=None,
)
DEAD_LETTERS = Counter(
    "popflow_dead_letters_total",
    "Messages sent to the dead-letter topic, by the topic they came from",
    ["source_topic"],
    registry=None,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
Samples = Iterable[tuple[Sequence[str], float]]
Read = Callable[[], Awaitable[Samples]]
READ_TIMEOUT_S = 5.0


class CallbackGauge(Collector):
    """A gauge whose samples `read()` fetches when /metrics is scraped (label values, value)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], read: Read) -> None:
        self.name, self._documentation, self._labels, self._read = name, documentation, list(labels), read
        self._samples: list[tuple[Sequence[str], float]] = []

    async def refresh(self) -> None:
        """Read now; on failure the gauge shows no samples (rather than stale ones) and says why in the log."""
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                self._samples = list(await self._read())
        except Exception as error:
            self._samples = []
            log.warning("metric could not be read", metric=self.name, error=type(error).__name__)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self._documentation, labels=self._labels)
        for labels, value in self._samples:
            family.add_metric(list(labels), value)
        yield family


class Metrics:
    """One service app's registry: the shared HTTP and dead-letter series plus what the service adds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._gauges: list[CallbackGauge] = []
        # several workers: their counters and histograms come from the shared files, summed
        self._from_files = bool(os.environ.get(MULTIPROCESS_DIR))
        if self._from_files:
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        self.register(HTTP_REQUESTS, HTTP_LATENCY, DEAD_LETTERS)

    def register(self, *collectors: Collector) -> None:
        for collector in collectors:
            if self._from_files and isinstance(collector, MetricWrapperBase):
                continue  # reported by the MultiProcessCollector, with every worker's share
            self.registry.register(collector)

    def gauge(self, name: str, documentation: str, labels: Sequence[str], read: Read) -> None:
        """Add a gauge read by `read()` on every scrape, e.g. a COUNT(*) or the broker's offsets."""
        gauge = CallbackGauge(name, documentation, labels, read)
        self._gauges.append(gauge)
        self.register(gauge)

    async def exposition(self) -> bytes:
        await asyncio.gather(*(gauge.refresh() for gauge in self._gauges))
        return generate_latest(self.registry)


def mount_metrics(app: FastAPI, metrics: Metrics) -> None:
    """GET /metrics (Prometheus text format), left out of the OpenAPI document, and the HTTP middleware."""

    async def scrape(_: Request) -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """Count and time one HTTP request by route template (never the raw path: ids would explode it)."""
    route, method = route_of(scope), scope["method"]
    series = _REQUEST_SERIES.get((route, method, status))
    if series is None:  # labels() takes a lock and checks its values: 5 µs a request, once per series here
        series = HTTP_REQUESTS.labels(route, method, str(status)), HTTP_LATENCY.labels(route, method)
        _REQUEST_SERIES[route, method, status] = series
    series[0].inc()
    series[1].observe(seconds)


# (route template, method, status) -> its counter and histogram: as bounded as the series themselves
_REQUEST_SERIES: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def route_of(scope: Scope) -> str:
    """The matched route's template (`/v1/records/{record_id}`), or `unmatched`."""
    route = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")
