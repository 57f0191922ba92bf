"""The key store on real PostgreSQL: hashed at rest, revocable, scoped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from shared.auth import parse_scope
from shared.auth.store import MIGRATIONS, KeyStore
from shared.db import build_engine, run_migrations
from tests.support.infra import create_database, drop_database, unique_name
from tests.support.stores import logged_statements


@pytest.fixture
async def store() -> AsyncIterator[KeyStore]:
    name = unique_name("keys_")
    engine = build_engine(await create_database(name))
    await run_migrations(engine, MIGRATIONS, version_table="alembic_version_keys")
    try:
        yield KeyStore(engine)
    finally:
        await engine.dispose()
        await drop_database(name)


async def test_key_is_stored_hashed_and_authenticates(store: KeyStore) -> None:
    key_id, key = await store.create(parse_scope("street:440111005"), label="同德街道")
    principal = await store.authenticate(key)
    assert principal is not None
    assert principal.key_id == key_id
    assert str(principal.scope) == "street:440111005"
    async with store.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT key_hash FROM api_keys"))).scalar_one()
    assert key not in stored
    secret = key.split("_", 2)[2]  # pf_<id>_<secret>: the secret is URL-safe base64, "_" included
    assert secret
    assert secret not in stored


async def test_revoked_and_forged_keys_fail(store: KeyStore) -> None:
    key_id, key = await store.create(parse_scope("admin"))
    assert await store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert await store.authenticate("not-a-key") is None
    assert await store.revoke(key_id) is True
    assert await store.revoke(key_id) is False
    assert await store.authenticate(key) is None


async def test_a_key_check_is_one_statement_sent_alone(store: KeyStore) -> None:
    """Every request of every service checks its key: one SELECT on PostgreSQL, no BEGIN nor ROLLBACK around it."""
    key_id, key = await store.create(parse_scope("street:440111005"))
    statements = logged_statements(store.engine)
    await store.engine.dispose()  # the statements of connections opened from now on are seen
    assert await store.authenticate(key) is not None
    assert await store.principal_of(key_id) is not None
    said = [statement.split()[0].strip(";").upper() for statement in statements]
    assert said == ["SELECT", "SELECT"], statements
