"""`make run` tells databases sealed with another checkout's keys from its own, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64

from services.cli.databases import sealed_elsewhere
from services.cli.local import STORES
from shared.db import build_engine
from shared.db.sentinel import check_sealing_keys
from shared.sealing import parse_keyring
from tests.support.infra import create_database, drop_database, pg_admin_url, unique_name

MINE = parse_keyring("intake:" + base64.b64encode(b"m" * 32).decode(), "intake")
THEIRS = parse_keyring("intake:" + base64.b64encode(b"t" * 32).decode(), "intake")


async def test_a_prefix_whose_store_is_sealed_with_other_keys_is_found_and_one_sealed_with_ours_or_none_is_not() -> (
    None
):
    prefix, other = unique_name("pf") + "_", unique_name("pf") + "_"
    sealed, empty, elsewhere = f"{prefix}440111_intake", f"{prefix}routing", f"{other}keys"
    url = await create_database(sealed)  # a district's, as another checkout's `make run-two` made it
    await create_database(empty)
    other_url = await create_database(elsewhere)
    engines = [build_engine(url), build_engine(other_url)]
    try:
        await check_sealing_keys(engines[0], THEIRS, store="intake")  # another checkout's first start
        await check_sealing_keys(engines[1], THEIRS, store="keys")
        # sealed_elsewhere runs its own event loop, as the command line does
        assert await asyncio.to_thread(sealed_elsewhere, pg_admin_url(), prefix, STORES, MINE)
        assert not await asyncio.to_thread(sealed_elsewhere, pg_admin_url(), prefix, STORES, THEIRS)
        assert not await asyncio.to_thread(sealed_elsewhere, pg_admin_url(), prefix, ["routing"], MINE)
        assert await asyncio.to_thread(sealed_elsewhere, pg_admin_url(), other, STORES, MINE)
        assert not await asyncio.to_thread(sealed_elsewhere, pg_admin_url(), unique_name("pf") + "_", STORES, MINE)
    finally:
        for engine in engines:
            await engine.dispose()
        for name in (sealed, empty, elsewhere):
            await drop_database(name)
