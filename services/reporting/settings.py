"""Reporting's settings: the common ones plus REPORTING_* fields."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, sqlite_url


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", populate_by_name=True)

    port: int = 8004
    database_url: str = sqlite_url("reporting")
    timezone: str = Field(default="Asia/Shanghai", description="Time zone of the weekly cut-off")
