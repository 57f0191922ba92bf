"""Notices failed for good, told per receiver: the first at once, a count a minute, what is held at its recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notification.domain.failed_notices import IDS_SHOWN, Failed, FailedNotices

T0 = datetime(2027, 3, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_receivers_failed_notices_are_its_first_then_a_count_a_minute() -> None:
    notices = FailedNotices()
    said = [notices.failed("440111008", f"n{s}", at(s)) for s in (0, 10, 20, 59, 61, 70, 200)]
    assert said == [
        Failed(1, ("n0",), T0),
        None,
        None,
        None,
        Failed(4, ("n10", "n20", "n59", "n61"), at(10)),  # the three held and this one
        None,
        Failed(2, ("n70", "n200"), at(70)),
    ]
    assert notices.failed("440111008", "n300", at(300)) == Failed(1, ("n300",), at(300))  # nothing held: at once


def test_what_is_held_is_told_when_the_receiver_delivers_again_and_other_receivers_apart() -> None:
    notices = FailedNotices()
    assert notices.failed("440111008", "a", at(0)) is not None
    assert notices.failed("440111005", "b", at(1)) == Failed(1, ("b",), at(1))
    assert notices.failed("440111008", "c", at(2)) is None
    assert notices.delivered("440111005") is None  # told already: nothing held
    assert notices.delivered("440111008") == Failed(1, ("c",), at(2))
    assert notices.delivered("440111008") is None


def test_a_line_names_a_few_ids_and_counts_them_all() -> None:
    notices = FailedNotices()
    notices.failed("440111008", "first", at(0))
    for n in range(IDS_SHOWN + 30):
        assert notices.failed("440111008", f"n{n}", at(1)) is None
    line = notices.failed("440111008", "last", at(60))
    assert line is not None
    assert line.count == IDS_SHOWN + 31
    assert line.notice_ids == tuple(f"n{n}" for n in range(IDS_SHOWN))


def test_what_is_held_is_told_once_its_minute_is_up_though_the_receiver_never_comes_back() -> None:
    """A receiver that neither fails nor delivers again (its subscription removed after a burst): its held count
    waited for an event that never came, and was never told. The worker's pass tells it a minute on."""
    notices = FailedNotices()
    notices.failed("440111008", "a", at(0))
    notices.failed("440111008", "b", at(5))
    notices.failed("440111008", "c", at(6))
    notices.failed("440111005", "d", at(30))  # told at once, nothing held
    assert notices.due(at(59)) == []  # not yet a minute since its line
    assert notices.due(at(61)) == [("440111008", Failed(2, ("b", "c"), at(5)))]
    assert notices.due(at(200)) == []  # told once
    assert notices.failed("440111008", "e", at(201)) == Failed(1, ("e",), at(201))  # a minute on: at once again
    assert notices.delivered("440111008") is None


def test_past_the_bound_the_receiver_forgotten_is_the_one_quiet_longest_not_one_still_failing() -> None:
    notices = FailedNotices(kept=2)
    assert notices.failed("440111008", "a", at(0)) is not None
    assert notices.failed("440111005", "b", at(1)) is not None
    assert notices.failed("440111008", "c", at(2)) is None  # held: 440111008 is the newest now
    assert notices.failed("440111002", "d", at(3)) is not None  # a third receiver: one is forgotten
    assert notices.delivered("440111008") == Failed(1, ("c",), at(2))  # not the one still failing
    assert notices.failed("440111005", "e", at(4)) == Failed(1, ("e",), at(4))  # forgotten: said at once
