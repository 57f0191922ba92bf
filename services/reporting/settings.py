"""Reporting's settings: the common ones plus REPORTING_* fields."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import Environment, ServiceSettings, sqlite_url


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", populate_by_name=True)

    port: int = 8004
    database_url: str = sqlite_url("reporting")
    cut_off_weekday: int = Field(default=4, ge=0, le=6, description="Weekday the report week ends (0 Monday, 4 Friday)")
    cut_off_time: time = Field(default=time(10, 0), description="Local time the report week ends, e.g. 10:00")
    answer_target_days: int = Field(default=7, ge=1, description="A notice answered within this many days is on time")
    spotcheck_threshold: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="A street whose spot-check discrepancy rate exceeds this must canvass again",
    )
    export_dir: Path | None = Field(
        default=None,
        description=(
            "Folder for every street's weekly XLSX at each cut-off, written by the leading replica: with replicas"
            " on several hosts, one they all mount (docs/reporting.md); no scheduled export when unset"
        ),
    )
    export_catch_up_weeks: int = Field(
        default=4,
        ge=1,
        le=52,
        description="Closed weeks the scheduled export looks back over when it starts, writing at once those"
        " whose files were not all written (a restart or an upgrade at the cut-off)",
    )
    fold_batch: int = Field(default=5000, ge=1, le=20_000, description="Most messages folded in one transaction")
    cookie_secure: bool | None = Field(
        default=None,
        description=(
            "Mark the dashboard cookies Secure and name them `__Host-...`; by default yes outside development (HTTPS)"
        ),
    )
    session_minutes: int = Field(default=60, ge=1, le=24 * 60, description="How long a dashboard login lasts")
    notification_url: str | None = Field(
        default=None,
        max_length=500,
        description="Notification's base URL: the dashboard shows the exchange per partner from it, to keys covering"
        " every served district; unset: not shown",
    )
    notification_key: SecretStr | None = Field(
        default=None,
        description="The key the dashboard reads notification's exchange overview with: one covering every district"
        " notification serves (the bureau's when it serves one, an admin key when several)",
    )
    intake_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Intake's base URL: a place check enters the missed persons there, under the caller's key",
    )

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.environment is not Environment.DEVELOPMENT
