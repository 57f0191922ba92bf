"""A served process stops on SIGHUP as on SIGTERM, and leaves a hang-up ignored from the start (nohup) ignored.

The signals are raised in this process, with a harmless handler of the test's standing in for the default
disposition (which would end the test run); tests/e2e/test_hang_up.py sends them to real services.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import uvicorn

from shared.serving import HangUpStops


@pytest.fixture
def hang_ups() -> Iterator[list[int]]:
    """SIGHUPs that reached the handler in place before the server's."""
    received: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, _frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGHUP, previous)


def server() -> HangUpStops:
    return HangUpStops(uvicorn.Config("shared.serving:served_app", factory=True))


def test_a_hang_up_stops_the_server_and_reaches_the_previous_handler_once_it_has_stopped(hang_ups: list[int]) -> None:
    hung_up = server()
    with hung_up.capture_signals():
        signal.raise_signal(signal.SIGHUP)
        assert hung_up.should_exit
        assert not hung_up.force_exit  # a graceful stop, as SIGTERM's
        assert hang_ups == []  # held until the server has stopped
    assert hang_ups == [signal.SIGHUP]  # then raised again: the process ends as hung up


def test_sigterm_still_stops_it_and_leaves_sighup_alone(hang_ups: list[int]) -> None:
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: None)  # stands in for the default
    try:
        terminated = server()
        with terminated.capture_signals():
            signal.raise_signal(signal.SIGTERM)
            assert terminated.should_exit
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert hang_ups == []


def test_a_hang_up_ignored_when_the_server_starts_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as `nohup` starts a process
    try:
        under_nohup = server()
        with under_nohup.capture_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)
        assert not under_nohup.should_exit
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
