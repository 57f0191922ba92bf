"""Intake's settings: the common ones plus INTAKE_* fields."""

from __future__ import annotations

import base64
import binascii
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import Environment, ServiceSettings, sqlite_url

AES_KEY_LENGTHS = (16, 24, 32)


def decode_data_key(text: str) -> bytes:
    """The AES key in INTAKE_DATA_KEY (base64); ValueError unless 16, 24 or 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("INTAKE_DATA_KEY is not base64") from error
    if len(key) not in AES_KEY_LENGTHS:
        raise ValueError("INTAKE_DATA_KEY must decode to 16, 24 or 32 bytes (32 recommended)")
    return key


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)

    port: int = 8001
    database_url: str = sqlite_url("intake")
    data_key: SecretStr = Field(
        description="AES-GCM key (base64 of 32 random bytes) sealing identity numbers and names at rest; required"
    )
    outbox_batch: int = Field(default=1000, description="Outbox rows published per relay pass")
    bulk_max_rows: int = Field(default=100_000, ge=1, description="Most rows one bulk request may carry")
    bulk_max_bytes: int = Field(default=200_000_000, ge=1, description="Largest bulk request body")
    bulk_batch: int = Field(default=500, ge=1, le=5000, description="Rows written per bulk transaction")
    key_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Seconds a key check is remembered (a revocation takes this long); 0: off",
    )

    @model_validator(mode="after")
    def _check_data_key(self) -> Self:
        key = decode_data_key(self.data_key.get_secret_value())
        if self.environment is Environment.PRODUCTION and len(set(key)) < 8:
            raise ValueError("INTAKE_DATA_KEY is a placeholder (too few distinct bytes) for production")
        return self

    def data_key_bytes(self) -> bytes:
        return decode_data_key(self.data_key.get_secret_value())
