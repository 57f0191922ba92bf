"""Bulk worker processes are used once one has loaded: an import that comes sooner is prepared in process.

A worker loads the division directory and the keyring when it starts (about
two seconds); an import just after the service started waited for that before
it was prepared in process instead. Here a worker's loading is held for a few
seconds, or fails, and the pool is asked, as the bulk route asks it, whether
to use it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any, cast

from structlog.testing import capture_logs

from services.intake.service_layer.bulk_workers import BulkWorkers
from services.intake.service_layer.submissions import Submissions
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
        workers.close()
    assert workers.shown() == {"bulk_workers": {"size": 1, "loaded": False}}
    try:
        assert not workers.available(), "asked again after closing, a new pool starts, and loads"
        assert await eventually(workers.loaded, within=30)
    finally:
        workers.close()


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
        workers.close()
