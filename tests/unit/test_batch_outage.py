"""A batch's tries when its store cannot be reached: at once a 503 for a POST; waited for by a bulk import.

`attempts(rows)` (a POST's batch) fails on the first refused connection, as before, so the caller answers
503 with Retry-After. `attempts(rows, outage_s=...)` (a bulk import's batch, its 200 gone) tries again with
growing waits until the store answers or `outage_s` has passed; the other failures keep their own bounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from services.intake.adapters import batch_retries
from services.intake.adapters.batch_retries import ATTEMPTS, attempts
from tests.support.logs import logged_by


def refused() -> OperationalError:
    """What SQLAlchemy raises when PostgreSQL refuses a new connection (restarting, or past its limit)."""
    return OperationalError("connect", {}, ConnectionRefusedError(111, "Connection refused"))


def dropped() -> DBAPIError:
    """A statement whose connection was closed under it."""
    return DBAPIError("INSERT", {}, ConnectionResetError(104, "reset"), connection_invalidated=True)


class Store:
    """Fails with the errors given, one a try, then answers; counts its tries and when each came."""

    def __init__(self, *failures: Callable[[], BaseException], forever: Callable[[], BaseException] | None = None):
        self.failures = list(failures)
        self.forever = forever
        self.tries: list[float] = []

    def write(self) -> str:
        self.tries.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)()
        if self.forever is not None:
            raise self.forever()
        return "stored"


async def run(store: Store, outage_s: float = 0.0) -> str:
    async for attempt in attempts(10, outage_s=outage_s):
        with attempt:
            return store.write()
    raise AssertionError("unreachable")


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The waits' shape, scaled down: a fiftieth of a second first, doubling to a fifth."""
    monkeypatch.setattr(batch_retries, "OUTAGE_FIRST_WAIT_S", 0.02)
    monkeypatch.setattr(batch_retries, "OUTAGE_LONGEST_WAIT_S", 0.2)


async def test_a_posts_batch_fails_on_the_first_refusal_so_the_post_answers_503() -> None:
    store = Store(refused)
    with pytest.raises(OperationalError):
        await run(store)
    assert len(store.tries) == 1


async def test_a_bulk_batch_waits_through_refusals_with_growing_waits_and_then_stores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store(dropped, refused, refused, refused, refused, refused)
    with logged_by(monkeypatch, batch_retries) as logs:
        assert await run(store, outage_s=30) == "stored"
    assert len(store.tries) == 7  # more than ATTEMPTS: an outage is bounded by time, not tries
    assert len(store.tries) > ATTEMPTS
    gaps = [later - earlier for earlier, later in zip(store.tries, store.tries[1:], strict=False)]
    assert gaps[0] < 0.015, "a dropped connection's first try again goes at once, on a new connection"
    assert all(gap >= 0.015 for gap in gaps[1:]), gaps
    assert gaps[-1] > gaps[1], f"the waits grow: {gaps}"
    assert all(gap < 0.3 for gap in gaps), f"no wait longer than the longest (0.2 s and its jitter): {gaps}"
    events = [line["event"] for line in logs]
    assert events[0] == "batch's connection dropped, written again on a new one"
    assert events[1:] == ["batch waits for its database to come back"] * 5
    assert logs[1]["error"] == "ConnectionRefusedError"
    assert logs[1]["rows"] == 10
    assert {"attempt", "waited_s", "sqlstate"} <= set(logs[1])


async def test_a_bulk_batch_gives_up_once_the_outage_outlasts_its_wait() -> None:
    store = Store(forever=refused)
    began = time.monotonic()
    with pytest.raises(OperationalError):
        await run(store, outage_s=0.5)
    took = time.monotonic() - began
    assert 0.5 <= took < 2.0, took  # the budget, and one capped wait at most past it (slack for a busy box)
    assert len(store.tries) > ATTEMPTS


@pytest.mark.parametrize("outage_s", [0.0, 30.0])
async def test_other_failures_keep_their_bounds_while_waiting_for_an_outage(outage_s: float) -> None:
    raced = Store(forever=lambda: IntegrityError("INSERT", {}, Exception("unique")))
    with pytest.raises(IntegrityError):
        await run(raced, outage_s=outage_s)
    assert len(raced.tries) == ATTEMPTS
    wrong = Store(forever=lambda: ValueError("a bug, not an outage"))
    with pytest.raises(ValueError, match="a bug"):
        await run(wrong, outage_s=outage_s)
    assert len(wrong.tries) == 1
