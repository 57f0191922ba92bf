"""A recipient's window of pushes in flight: widens while it keeps up with a backlog, halves when it fails."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notification.domain.pacing import Pacing
from services.notification.settings import NotificationSettings
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET


def slots_after(pacing: Pacing, window: float, *, delivered: bool, answers: int) -> tuple[list[int], float]:
    """The slots after each of `answers` answers given with a backlog, and the window they leave."""
    seen = []
    for _ in range(answers):
        window = pacing.after(window, delivered=delivered, waiting=True)
        seen.append(pacing.slots(window))
    return seen, window


def test_answers_with_a_backlog_widen_the_window_one_at_a_time_up_to_its_most() -> None:
    seen, _ = slots_after(Pacing(start=2, most=5), 2.0, delivered=True, answers=6)
    assert seen == [3, 4, 5, 5, 5, 5]


def test_an_answer_without_a_backlog_leaves_the_window_as_it_is() -> None:
    assert Pacing(start=8, most=32).after(11.0, delivered=True, waiting=False) == 11.0


def test_each_failure_halves_the_window_never_below_one_request() -> None:
    pacing = Pacing(start=8, most=32)
    seen, window = slots_after(pacing, 20.0, delivered=False, answers=6)
    assert seen == [10, 5, 2, 1, 1, 1]
    assert pacing.after(window, delivered=True, waiting=True) == 2.0  # and it widens again from there


def test_a_window_whose_most_is_its_start_is_a_fixed_limit() -> None:
    pacing = Pacing(start=4, most=4)
    assert pacing.slots(pacing.after(4.0, delivered=True, waiting=True)) == 4


@pytest.mark.parametrize(("start", "most"), [(0, 4), (5, 4)])
def test_a_window_that_cannot_hold_a_request_or_starts_above_its_most_is_refused(start: int, most: int) -> None:
    with pytest.raises(ValueError, match="window"):
        Pacing(start=start, most=most)


def test_the_settings_refuse_a_most_below_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POPFLOW_PERSON_KEY_SECRET", PERSON_KEY_SECRET)
    monkeypatch.setenv("POPFLOW_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("NOTIFICATION_PER_RECIPIENT_CONCURRENCY", "16")
    monkeypatch.setenv("NOTIFICATION_PER_RECIPIENT_MAX_CONCURRENCY", "8")
    with pytest.raises(ValidationError, match="NOTIFICATION_PER_RECIPIENT_MAX_CONCURRENCY must be at least"):
        NotificationSettings()
    monkeypatch.setenv("NOTIFICATION_PER_RECIPIENT_MAX_CONCURRENCY", "16")
    assert NotificationSettings().per_recipient_most == 16  # a fixed limit


@pytest.mark.parametrize(("start", "most"), [(None, 32), ("8", 32), ("4", 32), ("64", 64)])
def test_an_unset_most_is_32_or_the_start_a_deployment_set_above_it(
    monkeypatch: pytest.MonkeyPatch, start: str | None, most: int
) -> None:
    # a deployment that raised the fixed limit before windows existed keeps starting, at that limit
    monkeypatch.setenv("POPFLOW_PERSON_KEY_SECRET", PERSON_KEY_SECRET)
    monkeypatch.setenv("POPFLOW_DATA_KEYS", DATA_KEYS)
    monkeypatch.delenv("NOTIFICATION_PER_RECIPIENT_MAX_CONCURRENCY", raising=False)
    if start is None:
        monkeypatch.delenv("NOTIFICATION_PER_RECIPIENT_CONCURRENCY", raising=False)
    else:
        monkeypatch.setenv("NOTIFICATION_PER_RECIPIENT_CONCURRENCY", start)
    settings = NotificationSettings()
    assert settings.per_recipient_most == most
    assert settings.per_recipient_most >= settings.per_recipient_concurrency
