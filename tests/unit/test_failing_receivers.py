"""A failing receiver's lines: the first failure, a count a minute, the recovery; another receiver apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
