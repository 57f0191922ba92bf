"""Intake's settings: the common ones plus INTAKE_* fields."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, sqlite_url


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)

    port: int = 8001
    database_url: str = sqlite_url("intake")
    max_body_bytes: int = Field(default=1_000_000, description="Largest single-record body")
    outbox_batch: int = Field(default=1000, description="Outbox rows published per relay pass")
