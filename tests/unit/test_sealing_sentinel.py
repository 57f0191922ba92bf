"""A store remembers the data keys it was sealed with; a deployment holding other keys refuses it, saying why."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from shared.db import build_engine
from shared.db.sentinel import ForeignKeyStore, check_sealing_keys
from shared.sealing import parse_keyring
from tests.support.infra import DATA_KEY, DATA_KEYS, TEST_KEYRING

OTHER_KEY = base64.b64encode(bytes(range(32))).decode()


async def test_a_store_opens_with_its_keys_and_is_refused_with_others(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    try:
        await check_sealing_keys(engine, TEST_KEYRING, store="routing")  # first start: the sentinel is sealed
        await check_sealing_keys(engine, TEST_KEYRING, store="routing")  # the same keys: fine

        rotated = parse_keyring(f"test2:{OTHER_KEY},{DATA_KEYS}", "test2")
        await check_sealing_keys(engine, rotated, store="routing")  # a new key, the old one still listed

        with pytest.raises(ForeignKeyStore, match=r"routing store .*another key under key id 'test1'") as same_id:
            await check_sealing_keys(engine, parse_keyring(f"test1:{OTHER_KEY}", None), store="routing")
        with pytest.raises(ForeignKeyStore, match=r"key id\(s\) test1, test2, which POPFLOW_DATA_KEYS") as unknown:
            await check_sealing_keys(engine, parse_keyring(f"dev:{DATA_KEY}", None), store="routing")
        for refused in (same_id, unknown):
            assert DATA_KEY not in str(refused.value)
            assert OTHER_KEY not in str(refused.value)
    finally:
        await engine.dispose()
