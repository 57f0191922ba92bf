"""Bulk worker processes are used once one has loaded: an import that comes sooner is prepared in process.

A worker loads the division directory and the keyring when it starts (about
two seconds); an import just after the service started waited for that before
it was prepared in process instead. Here the worker's loading is held for a
few seconds and the pool is asked, as the bulk route asks it, whether to use it.
"""

from __future__ import annotations

import time
from typing import cast

from services.intake.service_layer.bulk_workers import BulkWorkers
from services.intake.service_layer.submissions import Submissions
from tests.support.waiting import eventually

LOADING_S = 3.0


def slow_to_load() -> Submissions:
    """What a worker builds, taking its time (module-level: it is pickled to the worker)."""
    time.sleep(LOADING_S)
    return cast(Submissions, object())


async def test_workers_are_used_only_once_one_has_loaded() -> None:
    workers = BulkWorkers(1, slow_to_load, submissions=cast(Submissions, None))
    try:
        assert not workers.available(), "loading: an import now is prepared in process"
        assert workers.shown() == {"bulk_workers": {"size": 1, "loaded": False}}
        assert await eventually(workers.loaded, within=30)
        assert workers.available()
        assert workers.shown() == {"bulk_workers": {"size": 1, "loaded": True}}
    finally:
        workers.close()
    assert not workers.loaded(), "a closed pool (the service stops, or the pool broke) is loaded no more"
    try:
        assert not workers.available(), "asked again, a new pool starts, and loads"
        assert await eventually(workers.loaded, within=30)
    finally:
        workers.close()
