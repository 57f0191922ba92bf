"""Notification's settings: the common ones plus NOTIFICATION_* fields."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, sqlite_url


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore", populate_by_name=True)

    port: int = 8003
    database_url: str = sqlite_url("notification")
