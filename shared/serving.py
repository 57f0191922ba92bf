"""Serve a service's app factory with uvicorn, stopping cleanly on SIGTERM, SIGINT and SIGHUP.

One process (the default) stops gracefully on any of the three: requests in
flight finished (10 s at most), background work and its leadership let go,
consumers out of their groups. SIGHUP too, which uvicorn alone does not
catch (HangUpStops): a service has no configuration to reload, and its
supervisor starts it again. After SIGTERM or SIGHUP the process ends as
killed by that signal, once stopped, so its parent learns why; a SIGHUP
ignored at start (nohup) stays ignored. docs/operations.md, "Signals".

With `<SERVICE>_WEB_WORKERS` above 1, uvicorn starts that many processes on
the one port; each runs the whole service as a replica would (its consumers
join the service's consumer groups, the outbox relay and other once-per-
deployment work go to whichever holds the PostgreSQL advisory lock), so
workers are safe wherever replicas are: everywhere, on PostgreSQL. Their
HTTP counters are summed across the workers (Prometheus multiprocess mode,
in a scratch directory removed when the service stops). SIGTERM the
supervisor to stop them all; SIGHUP it for uvicorn's rolling restart of the
workers (each replaced once its successor serves, then stopped as by
SIGTERM; the workers themselves ignore SIGHUP, so a hang-up of the whole
process group is that restart too). A SIGKILLed supervisor leaves its workers
running, so run it where the whole process group is stopped together
(systemd's default KillMode, a container).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.importer import import_from_string
from uvicorn.supervisors import Multiprocess

from shared.logging import configure_service_logging
from shared.metrics import MULTIPROCESS_DIR
from shared.settings import ServiceSettings, env_prefix

FACTORY = "POPFLOW_SERVED_FACTORY"  # the service's app factory, for `served_app` in each process
# Collect young objects when 200,000 more are alive than at the last pass, not 700: a routing batch
# or a bulk import's batch allocates hundreds of thousands of objects and keeps them until its
# transaction ends. At the default the cyclic collector ran every few rows and took a tenth to a fifth
# of the CPU per record (docs/performance.md, round 4); at 50,000 a routing batch of 2,000 records
# (about 200,000 objects at its peak, just under this threshold) crossed it four times, each pass
# walking the batch's live objects (7 ms; 8 % of routing's CPU, round 10). 500,000 and 1,000,000 were
# measured too and did no better in routing or the fold. Objects freed by their last reference never
# count towards it, so memory stays flat: only cyclic garbage waits longer for a pass.
COLLECTOR_THRESHOLDS = (200_000, 20, 100)
WORKER_START_S = 30


class WorkersNeedPostgres(SystemExit):
    pass


def served_app() -> Any:
    """The app factory uvicorn calls in each serving process: the service's own, with the collector tuned.

    What the app loads at start-up (the national division directory, 140,000
    objects; the models) lives as long as the process, so it is frozen out of
    the collector's full passes. Tests build apps with the services' own
    factories and keep Python's defaults. A worker of uvicorn's supervisor
    ignores SIGHUP: the supervisor's own restarts the workers one at a time.
    """
    if multiprocessing.parent_process() is not None:
        # a worker of uvicorn's supervisor, whose SIGHUP restarts the workers one at a time, each stopped
        # with SIGTERM: a hang-up that reaches the whole process group (a terminal closing) is its alone
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    app = import_from_string(os.environ[FACTORY])()
    gc.freeze()
    return app


def tune_collector() -> None:
    """The served processes' collector settings, for a benchmark that runs a service's part in its own process:
    what exists now is frozen, and young objects are collected when COLLECTOR_THRESHOLDS[0] more are alive."""
    gc.collect()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    gc.freeze()


def serve(factory: str, settings: ServiceSettings) -> None:
    workers = settings.web_workers
    scratch = None
    if workers > 1:
        refuse_embedded_stores(settings)
        # the supervisor loads no app, whose factory configures logging: without this its own lines (the
        # workers restarted on SIGHUP, one not ready in time) were dropped, or printed as plain text
        service = env_prefix(settings).rstrip("_").lower()
        configure_service_logging(service, settings)
        # set before the workers start, so each one's prometheus_client writes its values to files
        scratch = os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="popflow-metrics-")
    os.environ[FACTORY] = factory  # read by served_app, in this process or in each worker
    config = uvicorn.Config(
        "shared.serving:served_app",
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
        # how long a worker started by SIGHUP's rolling restart has to finish its start-up before the restart is
        # given up: uvicorn's 5 s gave up every restart of routing, whose workers start in 4-6 s on a busy
        # two-core box (the division directory, the database, three consumer groups). It is also how long the
        # supervisor waits for a worker's answer to its ping, and a SIGTERM that comes during a restart waits
        # for it: at most this long, when a new worker never serves (the restart then stops)
        timeout_worker_healthcheck=WORKER_START_S,
    )
    try:
        run(config)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def run(config: uvicorn.Config) -> None:
    """uvicorn.run's choice between its supervisor and one server, the one server stopping on SIGHUP too."""
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()  # SIGHUP: a rolling restart of the workers
        return
    server = HangUpStops(config)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C, raised again by uvicorn once the server has stopped
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class HangUpStops(uvicorn.Server):
    """uvicorn's server, stopped by SIGHUP exactly as by SIGTERM (uvicorn 0.54 captures SIGINT and SIGTERM only).

    A service holds no configuration to reload, so a hang-up (its terminal closed, an ssh session dropped,
    `kill -HUP`) stops it: requests finished, consumers out of their groups, leadership released. uvicorn then
    raises the signal again with its previous handler, so the process ends as killed by SIGHUP, as SIGTERM's
    ends by SIGTERM, and its parent learns why. A hang-up ignored when the process started (nohup) stays ignored.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            on_main_thread = threading.current_thread() is threading.main_thread()
            if not on_main_thread or signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
                yield
                return
            previous = signal.signal(signal.SIGHUP, self.handle_exit)
            try:
                yield
            finally:  # before uvicorn raises the captured signals again, on leaving its own capture
                signal.signal(signal.SIGHUP, previous)


def refuse_embedded_stores(settings: ServiceSettings) -> None:
    """Several workers share the service's stores: SQLite (the embedded store of one process) will not do."""
    prefix = env_prefix(settings)
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
