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
    bulk_max_rows: int = Field(default=100_000, ge=1, description="Most rows one bulk request may carry")
    bulk_max_bytes: int = Field(default=200_000_000, ge=1, description="Largest bulk request body")
    # 2,000 rows a transaction and one worker process: a 100,000-row import a third faster than 500 rows in a
    # thread of its own (docs/performance.md, round 11); a larger batch costs memory, not speed
    bulk_batch: int = Field(default=2000, ge=1, le=5000, description="Rows written per bulk transaction")
    bulk_workers: int = Field(
        default=1,
        ge=0,
        le=8,
        description="Processes that prepare bulk rows (validate, seal, build events) beside the event loop; "
        "0: a thread of the service's own process (for a host of one core)",
    )
    bulk_store_wait_s: float = Field(
        default=60.0,
        ge=0,
        le=600,
        description="Seconds a bulk import waits for its database to come back (a restart, a fail-over) before it "
        "stops; single POSTs answer 503 at once",
    )
    key_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Seconds a key check is remembered (a revocation takes this long); 0: off",
    )
