"""Serve a service's app factory with uvicorn, stopping cleanly on SIGTERM/SIGINT.

With `<SERVICE>_WEB_WORKERS` above 1, uvicorn starts that many processes on
the one port; each runs the whole service as a replica would (its consumers
join the service's consumer groups, the outbox relay and other once-per-
deployment work go to whichever holds the PostgreSQL advisory lock), so
workers are safe wherever replicas are: everywhere, on PostgreSQL. Their
HTTP counters are summed across the workers (Prometheus multiprocess mode,
in a scratch directory removed when the service stops). SIGTERM the
supervisor to stop them all; a SIGKILLed supervisor leaves its workers
running, so run it where the whole process group is stopped together
(systemd's default KillMode, a container).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import uvicorn

from shared.metrics import MULTIPROCESS_DIR
from shared.settings import ServiceSettings


class WorkersNeedPostgres(SystemExit):
    pass


def serve(factory: str, settings: ServiceSettings) -> None:
    workers = settings.web_workers
    scratch = None
    if workers > 1:
        refuse_embedded_stores(settings)
        # set before the workers start, so each one's prometheus_client writes its values to files
        scratch = os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="popflow-metrics-")
    try:
        uvicorn.run(
            factory,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_config=None,  # our structlog pipeline handles uvicorn's loggers
            access_log=False,
            # the C event loop and HTTP parser: the per-request Python work is what limits a service
            loop="uvloop",
            http="httptools",
            timeout_graceful_shutdown=10,
        )
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def refuse_embedded_stores(settings: ServiceSettings) -> None:
    """Several workers share the service's stores: SQLite (the embedded store of one process) will not do."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    embedded = [
        name
        for name, url in (
            (f"{prefix}DATABASE_URL", settings.database_url),
            ("POPFLOW_KEYS_DATABASE_URL", settings.keys_database_url),
        )
        if url.startswith("sqlite")
    ]
    if embedded:
        raise WorkersNeedPostgres(
            f"{prefix}WEB_WORKERS={settings.web_workers} needs PostgreSQL, but {' and '.join(embedded)} "
            "name SQLite (the embedded store serves one process): set them to postgresql+asyncpg://... "
            f"or {prefix}WEB_WORKERS=1"
        )
