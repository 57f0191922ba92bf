"""Routing's settings: the common ones plus ROUTING_* fields."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import ServiceSettings, sqlite_url

DEFAULT_RECIPIENTS_FILE = Path(__file__).parent / "adapters" / "recipients.toml"


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", populate_by_name=True)

    port: int = 8002
    database_url: str = sqlite_url("routing")
    served_districts: Annotated[list[str], NoDecode] = Field(
        default=["440111"], description="6-digit districts this deployment serves, comma-separated"
    )
    recipients_file: Path = Field(
        default=DEFAULT_RECIPIENTS_FILE, description="TOML file of external exchange endpoints by code prefix"
    )
    reminder_working_days: int = Field(
        default=3, ge=1, description="N: a notice unanswered after N working days is reminded, after 2N escalated"
    )
    holidays: Annotated[list[date], NoDecode] = Field(
        default=[], description="Non-working days besides weekends, comma-separated ISO dates"
    )
    timezone: str = Field(default="Asia/Shanghai", description="Where working days are counted")
    reminder_interval_s: float = Field(
        default=300, ge=0, description="How often the reminder job runs; 0 switches it off"
    )

    @field_validator("served_districts", "holidays", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _comma_separated(value)

    @field_validator("served_districts")
    @classmethod
    def _six_digits(cls, value: list[str]) -> list[str]:
        bad = [code for code in value if not (code.isdigit() and len(code) == 6)]
        if bad or not value:
            raise ValueError("ROUTING_SERVED_DISTRICTS lists 6-digit district codes, at least one")
        return value
