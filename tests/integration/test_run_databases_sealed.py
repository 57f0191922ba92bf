"""`make run` tells databases sealed with another checkout's keys from its own, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64

from services.cli.databases import sealed_elsewhere
from shared.db import build_engine
from shared.db.sentinel import check_sealing_keys
from shared.sealing import parse_keyring
from tests.support.infra import create_database, drop_database, pg_admin_url, unique_name

MINE = parse_keyring("intake:" + base64.b64encode(b"m" * 32).decode(), "intake")
THEIRS = parse_keyring("intake:" + base64.b64encode(b"t" * 32).decode(), "intake")


async def test_a_store_sealed_with_other_keys_is_found_and_one_sealed_with_ours_or_none_is_not() -> None:
    sealed, empty = unique_name("sealed"), unique_name("empty")
    url = await create_database(sealed)
    await create_database(empty)
    engine = build_engine(url)
    try:
        await check_sealing_keys(engine, THEIRS, store="intake")  # another checkout's first start
        # sealed_elsewhere runs its own event loop, as the command line does
        assert await asyncio.to_thread(sealed_elsewhere, pg_admin_url(), [sealed, empty], MINE)
        assert not await asyncio.to_thread(sealed_elsewhere, pg_admin_url(), [sealed, empty], THEIRS)
        assert not await asyncio.to_thread(sealed_elsewhere, pg_admin_url(), [empty, "no_such_database"], MINE)
    finally:
        await engine.dispose()
        await drop_database(sealed)
        await drop_database(empty)
