"""A failing receiver's lines: the first failure, a count a minute, the recovery; another receiver apart; past
the bound, the receiver longest quiet forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notification.domain import failing_receivers
from services.notification.domain.failing_receivers import FailingReceivers, Line, Say

T0 = datetime(2027, 3, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_run_of_failures_is_its_first_then_a_count_a_minute_then_its_recovery() -> None:
    receivers = FailingReceivers()
    said = [receivers.failed("440111008", at(s)) for s in (0, 10, 20, 59, 61, 70, 121)]
    assert said == [
        Line(Say.FAILING, 0, T0),
        None,
        None,
        None,
        Line(Say.STILL_FAILING, 4, T0),  # the three held and this one
        None,
        Line(Say.STILL_FAILING, 2, T0),
    ]
    assert receivers.delivered("440111008") == Line(Say.RECOVERED, 0, T0)
    assert receivers.delivered("440111008") is None  # answering: nothing to say
    assert receivers.failed("440111008", at(130)) == Line(Say.FAILING, 0, at(130))  # a new run


def test_each_receiver_has_its_own_run() -> None:
    receivers = FailingReceivers()
    assert receivers.failed("440111008", at(0)) is not None
    assert receivers.failed("440111005", at(1)) == Line(Say.FAILING, 0, at(1))
    assert receivers.failed("440111008", at(2)) is None
    assert receivers.delivered("440111005") == Line(Say.RECOVERED, 0, at(1))
    assert receivers.delivered("440111008") == Line(Say.RECOVERED, 1, T0)


def test_past_its_bound_it_forgets_the_receiver_longest_quiet_not_every_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full, it emptied itself: every receiver failing at the time said "failing" again, as if just begun."""
    monkeypatch.setattr(failing_receivers, "KEPT", 3)
    receivers = FailingReceivers()
    for n, code in enumerate(("440111001", "440111002", "440111003")):
        receivers.failed(code, at(n))
    assert receivers.failed("440111001", at(3)) is None  # failing still: now the newest
    assert receivers.failed("440111004", at(4)) == Line(Say.FAILING, 0, at(4))  # past the bound: 002 forgotten

    assert receivers.failed("440111003", at(5)) is None  # its run goes on
    assert receivers.failed("440111001", at(6)) is None
    assert receivers.delivered("440111003") == Line(Say.RECOVERED, 1, at(2))
    assert receivers.failed("440111002", at(7)) == Line(Say.FAILING, 0, at(7))  # the forgotten one begins anew
