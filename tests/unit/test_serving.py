"""Several web workers share a service's stores: SQLite is refused at start with the settings to change."""

from __future__ import annotations

import pytest

from services.intake.settings import IntakeSettings
from services.routing.settings import RoutingSettings
from shared.serving import WorkersNeedPostgres, refuse_embedded_stores

POSTGRES = "postgresql+asyncpg://popflow@db/popflow"


def test_workers_on_sqlite_are_refused_naming_the_settings() -> None:
    settings = IntakeSettings.model_construct(
        database_url="sqlite+aiosqlite:///./var/intake.db", keys_database_url=POSTGRES, web_workers=2
    )
    with pytest.raises(WorkersNeedPostgres, match="INTAKE_WEB_WORKERS=2 needs PostgreSQL") as refused:
        refuse_embedded_stores(settings)
    assert "INTAKE_DATABASE_URL" in str(refused.value)
    assert "POPFLOW_KEYS_DATABASE_URL" not in str(refused.value)


def test_the_key_store_on_sqlite_is_refused_too() -> None:
    settings = RoutingSettings.model_construct(
        database_url=POSTGRES, keys_database_url="sqlite+aiosqlite:///./var/keys.db", web_workers=3
    )
    with pytest.raises(WorkersNeedPostgres, match="POPFLOW_KEYS_DATABASE_URL"):
        refuse_embedded_stores(settings)


def test_workers_on_postgres_are_allowed() -> None:
    settings = IntakeSettings.model_construct(database_url=POSTGRES, keys_database_url=POSTGRES, web_workers=4)
    refuse_embedded_stores(settings)  # no refusal: returning is the whole behaviour
