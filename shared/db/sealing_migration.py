"""For migrations that seal personal data a store already holds in clear."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from shared.sealing import Keyring


def json_value(raw: Any) -> Any:
    """A JSON column read without its type: a string on some drivers, decoded on others."""
    return json.loads(raw) if isinstance(raw, str) else raw


def migration_keyring() -> Keyring:
    """The keyring `shared.db.run_migrations(..., keyring=)` handed to this migration run."""
    keyring = context.config.attributes.get("keyring")
    if not isinstance(keyring, Keyring):
        raise RuntimeError("this migration seals stored data: run it through shared.db.run_migrations(keyring=...)")
    return keyring


def seal_rows(
    table: str,
    *,
    key: str,
    clear: tuple[str, ...],
    into: str,
    value: Callable[[dict[str, Any]], Any] = lambda row: row,
    context: Callable[[str], str] = lambda key: key,
) -> None:
    """Seal `value(the clear columns)` of every row into column `into`, bound to `context(the row's key)`.

    Rows whose value is None keep `into` null.
    """
    columns: list[sa.ColumnClause[Any]] = [sa.column(key), *(sa.column(c) for c in clear)]
    bind = op.get_bind()
    rows = bind.execute(sa.select(*columns).select_from(sa.table(table))).mappings().all()
    if not rows:
        return
    keyring = migration_keyring()
    target = sa.table(table, sa.column(key), sa.column(into))
    for row in rows:
        plain = value({c: row[c] for c in clear})
        if plain is None:
            continue
        sealed = keyring.seal(plain, context=context(str(row[key])))
        bind.execute(target.update().where(target.c[key] == row[key]).values({into: sealed}))


BATCH_ROWS = 500  # rows read, sealed and written back at a time: a large table is never held whole


def seal_json_rows(
    table: str,
    *,
    key: str,
    column: str,
    seal: Callable[[Any, str, Keyring], Any | None],
    batch: int = BATCH_ROWS,
) -> None:
    """Seal parts of the JSON column `column` in place, `batch` rows at a time in `key` order.

    `seal(the value, the row's key, keyring)` answers the value with its clear parts sealed, or None
    when it holds none (a row sealed already is left as it is: a second run changes nothing). The
    batches share the migration's transaction; the keyring is asked for once there is a row.
    """
    bind = op.get_bind()
    source = sa.table(table, sa.column(key), sa.column(column))
    target = sa.table(table, sa.column(key), sa.column(column, sa.JSON))
    write = target.update().where(target.c[key] == sa.bindparam("b_key")).values({column: sa.bindparam("b_value")})
    keyring: Keyring | None = None
    after: Any = None
    while True:
        query = sa.select(source.c[key], source.c[column]).order_by(source.c[key]).limit(batch)
        if after is not None:
            query = query.where(source.c[key] > after)
        rows = bind.execute(query).all()
        if not rows:
            return
        keyring = keyring or migration_keyring()
        changed = []
        for row_key, raw in rows:
            sealed = seal(json_value(raw), str(row_key), keyring)
            if sealed is not None:
                changed.append({"b_key": row_key, "b_value": sealed})
        if changed:
            bind.execute(write, changed)
        after = rows[-1][0]
