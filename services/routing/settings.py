"""Routing's settings: the common ones plus ROUTING_* fields."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import ServiceSettings, comma_separated, sqlite_url

DEFAULT_RECIPIENTS_FILE = Path(__file__).parent / "adapters" / "recipients.toml"


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", populate_by_name=True)

    port: int = 8002
    database_url: str = sqlite_url("routing")
    recipients_file: Path = Field(
        default=DEFAULT_RECIPIENTS_FILE, description="TOML file of external exchange endpoints by code prefix"
    )
    reminder_working_days: int = Field(
        default=3, ge=1, description="N: a notice unanswered after N working days is reminded, after 2N escalated"
    )
    holidays: Annotated[list[date], NoDecode] = Field(
        default=[], description="Non-working days besides weekends, comma-separated ISO dates"
    )
    reminder_interval_s: float = Field(
        default=300, ge=0, description="How often the reminder job runs; 0 switches it off"
    )
    record_consumers: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Consumers of records.submitted in each routing process (one consumer group): while one "
        "waits on PostgreSQL another decides, so a process keeps its core busy; more than the topic's "
        "partitions over all processes leaves some idle (docs/scaling.md)",
    )
    parked_answer_interval_s: float = Field(
        default=5,
        gt=0,
        description="How often answers that came before their notice was stored are tried again",
    )
    parked_answer_max_age_s: float = Field(
        default=86_400,
        gt=0,
        description="An answer whose notice is still not stored after this long goes to the dead-letter topic",
    )

    @field_validator("holidays", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return comma_separated(value)
