"""Bulk worker processes are used once one has loaded: an import that comes sooner is prepared in process.

A worker loads the division directory and the keyring when it starts (about
two seconds); an import just after the service started waited for that before
it was prepared in process instead. Here a worker's loading is held for a few
seconds, or fails, and the pool is asked, as the bulk route asks it, whether
to use it.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import MutableMapping
from typing import Any, cast

from structlog.testing import capture_logs

from services.intake.service_layer.bulk_workers import BulkWorkers
from services.intake.service_layer.submissions import Submissions
from tests.support.system import ROOT
from tests.support.waiting import eventually

LOADING_S = 3.0
SECRET = "412826199003071234"  # what a failing worker's message might carry: never logged


def slow_to_load() -> Submissions:
    """What a worker builds, taking its time (module-level: it is pickled to the worker)."""
    time.sleep(LOADING_S)
    return cast(Submissions, object())


def fails_to_load() -> Submissions:
    raise RuntimeError(f"the keyring does not open for {SECRET}")


async def test_workers_are_used_only_once_one_has_loaded() -> None:
    workers = BulkWorkers(1, slow_to_load, submissions=cast(Submissions, None))
    try:
        workers.start()
        assert not workers.available(), "loading: an import now is prepared in process"
        assert workers.shown() == {"bulk_workers": {"size": 1, "loaded": False}}
        assert await eventually(workers.loaded, within=30)
        assert workers.available()
        assert workers.shown() == {"bulk_workers": {"size": 1, "loaded": True}}
    finally:
        await workers.close()
    assert workers.shown() == {"bulk_workers": {"size": 1, "loaded": False}}
    try:
        # an import still unwinding at the stop asks again: it is prepared in process, and no pool is left behind
        assert not workers.available()
        assert workers._pool is None, "no new pool after the service closed its workers"
        workers.start()  # served again (a lifespan entered anew): a new pool starts, and loads
        assert not workers.available()
        assert await eventually(workers.loaded, within=30)
    finally:
        await workers.close()


async def test_workers_that_fail_to_load_are_logged_once_and_not_restarted_at_once() -> None:
    workers = BulkWorkers(1, fails_to_load, submissions=cast(Submissions, None))
    try:
        with capture_logs() as logs:
            workers.start()

            def failure_logged() -> list[MutableMapping[str, Any]]:
                workers.available()  # as each import asks
                return [line for line in logs if str(line["event"]).startswith("bulk workers failed to load")]

            failures = await eventually(failure_logged, within=30)
            for _ in range(10):  # longer than a pool takes to fail: none is started again meanwhile
                await asyncio.sleep(0.3)
                assert len(failure_logged()) == 1, "not a new pool and an error line for every chunk"
        assert failures[0]["error"] == "BrokenProcessPool"
        assert SECRET not in str(logs), "the worker's own message is not logged"
        assert not workers.loaded()
        assert workers.shown() == {"bulk_workers": {"size": 1, "loaded": False}}
    finally:
        await workers.close()


STOPPED_BY_ITS_SIGNAL = textwrap.dedent(
    """
    import asyncio, signal, sys
    from typing import cast
    from services.intake.service_layer.bulk_workers import BulkWorkers
    from services.intake.service_layer.submissions import Submissions

    def make() -> Submissions:
        return cast(Submissions, object())

    async def serve() -> None:
        workers = BulkWorkers(1, make, submissions=cast(Submissions, None))
        workers.start()
        while not workers.loaded():
            await asyncio.sleep(0.05)
        await workers.close()

    if __name__ == "__main__":
        asyncio.run(serve())
        signal.raise_signal(signal.SIGTERM)  # as shared/serving.py ends a service stopped by SIGTERM
    """
)


def test_a_service_stopped_by_its_signal_leaves_no_semaphore_behind(tmp_path: Any) -> None:
    # the pool's queues hold named semaphores; a process that ends by a signal runs no exit handler, and the
    # ones left were removed by multiprocessing's resource tracker, warning "leaked semaphore objects"
    program = tmp_path / "service.py"
    program.write_text(STOPPED_BY_ITS_SIGNAL)
    service = subprocess.Popen(
        [sys.executable, str(program)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # reaped first, as a supervisor reaps it: a worker ends once its service's pid is gone, and holds the pipe
        # till then; the resource tracker writes its warning once the service is gone
        assert service.wait(timeout=120) == -signal.SIGTERM
        _, errors = service.communicate(timeout=60)
    finally:
        service.kill()  # a no-op once it ended; its workers end with it
    assert b"leaked semaphore" not in errors, errors.decode()[-2000:]
