"""A refused setting is named, and no value of any setting is printed with it: pydantic's error shows the input it
was given (the first and last characters of every variable read, a database password or a data key among them),
and a service that refuses to start prints that error on its terminal or into its container's log."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings
from services.notification.settings import NotificationSettings
from services.reporting.settings import ReportingSettings
from services.routing.settings import RoutingSettings
from shared.settings import CommonSettings, ServiceSettings

PASSWORD = "database-password-0123456789"
DATA_KEY = base64.b64encode(bytes(range(32))).decode()
SECRETS = {
    "POPFLOW_PERSON_KEY_SECRET": "person-key-secret-0123456789",
    "POPFLOW_DATA_KEYS": f"k1:{DATA_KEY}",
    "KAFKA_SASL_PASSWORD": "kafka-password-0123456789",
}


@pytest.mark.parametrize(
    "settings_class", [CommonSettings, IntakeSettings, RoutingSettings, NotificationSettings, ReportingSettings]
)
def test_a_refused_setting_shows_no_value(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[CommonSettings | ServiceSettings]
) -> None:
    prefix = str(settings_class.model_config.get("env_prefix", "")).upper()
    given = {
        **SECRETS,
        f"{prefix}DATABASE_URL": f"postgresql+asyncpg://popflow:{PASSWORD}@db:5432/popflow",
        "POPFLOW_DATA_KEY_ID": "k2",
    }
    for name, value in given.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError) as refused:
        settings_class()

    said = str(refused.value)
    assert "POPFLOW_DATA_KEY_ID" in said
    for value in [*given.values(), DATA_KEY, PASSWORD]:
        if value == "k2":
            continue  # a key id, named on purpose: never a key
        assert value[-10:] not in said
        assert value[:10] not in said
