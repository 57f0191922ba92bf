"""Routing's settings: the common ones plus ROUTING_* fields."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, sqlite_url


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", populate_by_name=True)

    port: int = 8002
    database_url: str = sqlite_url("routing")
