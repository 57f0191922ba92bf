"""The FTP poller's waits after failures: 5 s doubling to 5 min, one line a wait, each partner apart, reset on the
first success."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notification.domain import held_back
from services.notification.domain.held_back import HeldBack, Step, wait_after

T0 = datetime(2027, 3, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(1, 5), (2, 10), (3, 20), (4, 40), (5, 80), (6, 160), (7, 300), (8, 300), (10_000, 300)],
)
def test_the_wait_doubles_from_five_seconds_to_five_minutes_at_most(failures: int, seconds: int) -> None:
    assert wait_after(failures) == timedelta(seconds=seconds)


def test_a_failing_partner_is_tried_once_a_wait_and_said_once_a_wait() -> None:
    held = HeldBack()
    assert held.failed("baiyun", at(0)) == Step(1, T0, at(5))
    assert held.waiting("baiyun", at(4.9))
    assert held.failed("baiyun", at(1)) is None  # another of its batches, in the same wait: said already
    assert not held.waiting("baiyun", at(5))
    assert held.failed("baiyun", at(5)) == Step(2, T0, at(15))
    assert held.waiting("baiyun", at(14))
    assert held.failed("baiyun", at(15)) == Step(3, T0, at(35))


def test_partners_wait_apart_and_a_success_ends_the_run() -> None:
    held = HeldBack()
    held.failed("baiyun", at(0))
    held.failed("baiyun", at(5))
    assert not held.waiting("furong", at(6))  # another partner is not slowed
    assert held.succeeded("furong") is None
    assert held.succeeded("baiyun") == Step(2, T0, at(15))  # its run, for the line that says it works again
    assert not held.waiting("baiyun", at(6))
    assert held.failed("baiyun", at(20)) == Step(1, at(20), at(25))  # a new run starts at the first wait


def test_past_its_bound_it_forgets_the_longest_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(held_back, "KEPT", 2)
    held = HeldBack()
    for n, name in enumerate(("a", "b", "c")):
        held.failed(name, at(n))
    assert [held.waiting(name, at(3)) for name in ("a", "b", "c")] == [False, True, True]
