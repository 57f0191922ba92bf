"""Processes of one deployment starting at once on a fresh PostgreSQL store all pass the sentinel check
(INTAKE_WEB_WORKERS=2 on a new database failed one of its two processes on the sentinel's key)."""

from __future__ import annotations

import asyncio
import base64

import pytest

from shared.db import build_engine
from shared.db.sentinel import ForeignKeyStore, check_sealing_keys
from shared.sealing import Keyring, parse_keyring
from tests.support.infra import TEST_KEYRING, create_database, drop_database, unique_name

OTHER_KEY = base64.b64encode(bytes(range(32))).decode()


async def started_at_once(keyrings: list[Keyring]) -> list[BaseException | None]:
    """Each keyring's check run at the same moment, each on its own engine (its own process, as it were)."""
    name = unique_name("sentinel_")
    engines = [build_engine(await create_database(name))]
    engines += [build_engine(engines[0].url.render_as_string(hide_password=False)) for _ in keyrings[1:]]
    try:
        outcomes = await asyncio.gather(
            *(check_sealing_keys(e, k, store="intake") for e, k in zip(engines, keyrings, strict=True)),
            return_exceptions=True,
        )
        return [o if isinstance(o, BaseException) else None for o in outcomes]
    finally:
        for engine in engines:
            await engine.dispose()
        await drop_database(name)


@pytest.mark.parametrize("attempt", range(8))  # a race: tried more than once
async def test_processes_of_one_deployment_starting_at_once_all_start(attempt: int) -> None:
    assert await started_at_once([TEST_KEYRING] * 6) == [None] * 6


async def test_of_two_checkouts_with_different_keys_under_one_id_starting_at_once_one_is_refused() -> None:
    outcomes = await started_at_once([TEST_KEYRING, parse_keyring(f"test1:{OTHER_KEY}", None)])
    assert sorted(type(o).__name__ for o in outcomes) == ["ForeignKeyStore", "NoneType"]
    assert all(o is None or isinstance(o, ForeignKeyStore) for o in outcomes)
