"""A notice's record link in production: an address its recipient can follow, never this machine's loopback."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from services.notification.settings import NotificationSettings

PRODUCTION: dict[str, Any] = {
    "POPFLOW_ENV": "production",
    "POPFLOW_PERSON_KEY_SECRET": "person-key-secret-0123456789",
    "POPFLOW_DATA_KEYS": f"k1:{base64.b64encode(bytes(range(32))).decode()}",
    "database_url": "postgresql+asyncpg://popflow:pw@db:5432/popflow_notification",
}


def settings(**given: Any) -> NotificationSettings:
    return NotificationSettings.model_validate(PRODUCTION | given)


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:8001/v1/records/",  # the default, which `make run` uses
        "http://localhost:8001/v1/records/",
        "http://intake.localhost/v1/records/",
        "http://127.8.0.1/v1/records/",
        "http://[::1]:8001/v1/records/",
        "http://[::ffff:127.0.0.1]:8001/v1/records/",  # loopback, written as IPv6
        "http://0.0.0.0:8001/v1/records/",
        "ftp://popflow.district.example/v1/records/",
        "/v1/records/",
    ],
)
def test_production_refuses_a_link_its_recipients_cannot_follow(base: str) -> None:
    with pytest.raises(ValidationError, match="NOTIFICATION_RECORD_LINK_BASE"):
        settings(record_link_base=base)


def test_production_refuses_the_default() -> None:
    with pytest.raises(ValidationError, match="NOTIFICATION_RECORD_LINK_BASE"):
        settings()


@pytest.mark.parametrize(
    "base", ["https://popflow.district.example/v1/records/", "http://10.1.2.3:8001/v1/records/", "http://intake:8001/"]
)
def test_production_takes_an_address_of_the_network(base: str) -> None:
    assert settings(record_link_base=base).record_link_base == base


def test_development_keeps_the_loopback_default() -> None:
    development = NotificationSettings.model_validate(PRODUCTION | {"POPFLOW_ENV": "development"})
    assert development.record_link_base == "http://127.0.0.1:8001/v1/records/"
