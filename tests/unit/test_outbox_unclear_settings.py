"""How long the outbox relays retry a row failing with an error that does not say whose fault it is: deployment
settings (POPFLOW_OUTBOX_UNCLEAR_PASSES, POPFLOW_OUTBOX_UNCLEAR_FOR_S), bounded, and given to every relay."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from services.cli import catalogue
from services.intake.bootstrap import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notification.bootstrap import create_app as notification_app
from services.notification.settings import NotificationSettings
from shared.db import outbox
from shared.db.outbox_failures import UnclearFailures
from shared.settings import CommonSettings
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("POPFLOW_PERSON_KEY_SECRET", PERSON_KEY_SECRET)
    monkeypatch.setenv("POPFLOW_DATA_KEYS", DATA_KEYS)
    return monkeypatch


def test_the_bound_is_five_passes_over_a_minute_unless_set(secrets: pytest.MonkeyPatch) -> None:
    default = CommonSettings()
    assert (default.outbox_unclear_passes, default.outbox_unclear_for_s) == (5, 60.0)
    secrets.setenv("POPFLOW_OUTBOX_UNCLEAR_PASSES", "20")
    secrets.setenv("POPFLOW_OUTBOX_UNCLEAR_FOR_S", "300")
    given = CommonSettings()
    assert (given.outbox_unclear_passes, given.outbox_unclear_for_s) == (20, 300.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POPFLOW_OUTBOX_UNCLEAR_PASSES", "0"),  # no pass at all: set aside at its first unclear failure
        ("POPFLOW_OUTBOX_UNCLEAR_PASSES", "1001"),
        ("POPFLOW_OUTBOX_UNCLEAR_FOR_S", "-1"),
        ("POPFLOW_OUTBOX_UNCLEAR_FOR_S", "3601"),  # a person's later rows held for over an hour
    ],
)
@pytest.mark.parametrize("settings_class", [IntakeSettings, NotificationSettings])
def test_a_bound_out_of_range_is_refused_at_start_up_naming_it(
    secrets: pytest.MonkeyPatch, settings_class: type[CommonSettings], name: str, value: str
) -> None:
    secrets.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        settings_class()


class Recorded(UnclearFailures):
    bounds: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, clock: Any, *, passes: int, over_s: float) -> None:
        super().__init__(clock, passes=passes, over_s=over_s)
        Recorded.bounds.append({"passes": passes, "over_s": over_s})


@pytest.mark.parametrize(("service", "create_app"), [("intake", intake_app), ("notification", notification_app)])
def test_every_relay_is_given_the_settings(monkeypatch: pytest.MonkeyPatch, service: str, create_app: Any) -> None:
    monkeypatch.setattr(outbox, "UnclearFailures", Recorded)
    monkeypatch.setattr(Recorded, "bounds", [])
    settings = catalogue.test_settings(service).model_copy(
        update={"outbox_unclear_passes": 12, "outbox_unclear_for_s": 90.0}
    )
    create_app(settings)
    assert Recorded.bounds == [{"passes": 12, "over_s": 90.0}]
