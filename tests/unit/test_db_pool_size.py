"""`<SERVICE>_DB_POOL_SIZE`: the connections each process keeps to its database and to the key store's."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notification.settings import NotificationSettings
from shared.runtime import build_runtime
from tests.support.infra import DATA_KEYS, PERSON_KEY_SECRET

POSTGRES = "postgresql+asyncpg://popflow@db/popflow"


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POPFLOW_PERSON_KEY_SECRET", PERSON_KEY_SECRET)
    monkeypatch.setenv("POPFLOW_DATA_KEYS", DATA_KEYS)


async def test_both_pools_of_a_service_take_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATION_DB_POOL_SIZE", "12")
    settings = NotificationSettings(database_url=POSTGRES, keys_database_url=POSTGRES)
    runtime = build_runtime(settings, service="notification")
    try:
        assert runtime.engine.pool.size() == 12  # type: ignore[attr-defined]
        assert runtime.keys.engine.pool.size() == 12  # type: ignore[attr-defined]
    finally:
        await runtime.engine.dispose()
        await runtime.keys.engine.dispose()


def test_the_default_is_twenty() -> None:
    assert NotificationSettings(database_url=POSTGRES, keys_database_url=POSTGRES).db_pool_size == 20


@pytest.mark.parametrize("size", ["7", "0", "501"])
def test_a_pool_too_small_for_the_leaders_or_past_the_bound_is_refused(
    monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    """Below 8 a leading replica's locks and the relay's wake-ups could take every connection a request needs."""
    monkeypatch.setenv("NOTIFICATION_DB_POOL_SIZE", size)
    with pytest.raises(ValidationError, match="db_pool_size"):
        NotificationSettings(database_url=POSTGRES, keys_database_url=POSTGRES)
