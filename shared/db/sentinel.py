"""A deployment refuses a store sealed with keys it does not hold.

At first start the store gets a sentinel: a known value sealed with the
current data key, one row per key id. At every start the sentinels whose key
id the keyring holds must open, and at least one must: otherwise the store
was sealed with another key (two checkouts sharing a database cluster, a
mistyped POPFLOW_DATA_KEYS), and serving would write data no one can open
later. The current key's sentinel is added once it is known to fit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import reading
from shared.db.migrations import run_migrations
from shared.db.upsert import first_insert
from shared.sealing import KEYS_SETTING, Keyring, SealError

MIGRATIONS = Path(__file__).parent / "sentinel_migrations"
VERSION_TABLE = "alembic_version_sealing"
SENTINEL = "popflow sealing sentinel"

sentinels = sa.Table(
    "sealing_sentinel",
    sa.MetaData(),
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("sealed", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class ForeignKeyStore(RuntimeError):
    """The store was sealed with data keys this deployment does not hold."""


async def check_sealing_keys(engine: AsyncEngine, keyring: Keyring, *, store: str) -> None:
    """Raise ForeignKeyStore unless the store's sentinels open with `keyring`; then record the current key."""
    await run_migrations(engine, MIGRATIONS, version_table=VERSION_TABLE)
    async with engine.begin() as connection:
        result = await connection.execute(sa.select(sentinels.c.key_id, sentinels.c.sealed))
        rows = [(str(key_id), str(sealed)) for key_id, sealed in result.all()]
        _refuse_foreign(rows, keyring, store)
        if keyring.current not in {key_id for key_id, _ in rows}:
            sealed = keyring.seal(SENTINEL, context=SENTINEL)
            first = first_insert(engine, sentinels, ["key_id"])
            await connection.execute(first.values(key_id=keyring.current, sealed=sealed, created_at=datetime.now(UTC)))
            # another process of the deployment (a second web worker, a replica) starting at the same moment may
            # have written it first: it waited for that one's commit, and what is there must open here too
            current = sa.select(sentinels.c.key_id, sentinels.c.sealed).where(sentinels.c.key_id == keyring.current)
            written = [(str(key_id), str(sealed)) for key_id, sealed in (await connection.execute(current)).all()]
            _refuse_foreign(written, keyring, store)


async def sealed_with_other_keys(engine: AsyncEngine, keyring: Keyring) -> bool:
    """Whether the store's sentinels would refuse `keyring` (the check at start, read only: nothing migrated or
    written; a store never started has none and refuses nothing)."""
    async with reading(engine).connect() as connection:
        if not await connection.run_sync(lambda sync: sa.inspect(sync).has_table(sentinels.name)):
            return False
        result = await connection.execute(sa.select(sentinels.c.key_id, sentinels.c.sealed))
        rows = [(str(key_id), str(sealed)) for key_id, sealed in result.all()]
    try:
        _refuse_foreign(rows, keyring, "")
    except ForeignKeyStore:
        return True
    return False


def _refuse_foreign(rows: list[tuple[str, str]], keyring: Keyring, store: str) -> None:
    known = [(key_id, sealed) for key_id, sealed in rows if key_id in keyring.keys]
    if rows and not known:
        ids = ", ".join(sorted(key_id for key_id, _ in rows))
        raise ForeignKeyStore(
            f"the {store} store was sealed with key id(s) {ids}, which {KEYS_SETTING} does not hold: "
            f"start with the keys this store was sealed with (list them in {KEYS_SETTING}), or use another store"
        )
    for key_id, sealed in known:
        try:
            opened = keyring.open(sealed, context=SENTINEL)
        except SealError:
            opened = None
        if opened != SENTINEL:
            raise ForeignKeyStore(
                f"the {store} store was sealed with another key under key id {key_id!r}: "
                f"{KEYS_SETTING} holds a different key of that id; start with the key this store was sealed with"
            )
