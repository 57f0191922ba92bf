"""Creates one PostgreSQL database per service when missing, for local runs and tests."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence

import asyncpg
from sqlalchemy.engine import make_url

from shared.db import build_engine
from shared.db.sentinel import sealed_with_other_keys
from shared.sealing import Keyring


def sealed_elsewhere(admin_url: str, prefix: str, stores: Sequence[str], keyring: Keyring) -> bool:
    """Whether any database of `prefix` (see `of_prefix`) holds data sealed with keys `keyring` does not hold (its
    sealing sentinel does not open): another checkout's, whose secrets are in that checkout's var/."""
    return asyncio.run(_sealed_elsewhere(admin_url, prefix, stores, keyring))


def of_prefix(names: Iterable[str], prefix: str, stores: Sequence[str]) -> list[str]:
    """The databases among `names` that `make run` and `make run-two` give `prefix`: prefix+store, and
    prefix+district+_+store for any district, not only those of this run (another checkout's `make run-two`
    may have made popflow_440111_* before this one's first `make run`). Another prefix's are not: popflow_'s
    are not popflow_1a2b3c4d_'s."""
    shape = re.compile(rf"{re.escape(prefix)}(?:[0-9]{{6}}_)?(?:{'|'.join(map(re.escape, stores))})")
    return sorted(name for name in names if shape.fullmatch(name))


async def _sealed_elsewhere(admin_url: str, prefix: str, stores: Sequence[str], keyring: Keyring) -> bool:
    url = make_url(admin_url)
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        rows = await admin.fetch("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix)
    finally:
        await admin.close()
    for name in of_prefix((row["datname"] for row in rows), prefix, stores):
        engine = build_engine(url.set(drivername="postgresql+asyncpg", database=name).render_as_string(False))
        try:
            if await sealed_with_other_keys(engine, keyring):
                return True
        finally:
            await engine.dispose()
    return False


def choose_prefix(
    *, chosen: str | None, checkout: str, sealed_elsewhere: Callable[[str], bool], tries: int = 20
) -> str:
    """The database prefix of `make run` in a checkout: its secrets live in the checkout's var/, so its
    databases must open with them.

    - `chosen`: what var/database-prefix says, once a first run wrote it;
    - `sealed_elsewhere(prefix)`: whether the databases of `prefix` hold data sealed with other keys (a second
      clone on the machine, or var/ removed).

    The first of popflow_, popflow_<8 hex of the checkout's path>_, then of its path and a number, whose
    databases are not sealed with other keys: var/ removed a second time, or two machines' checkouts at the
    same path on one PostgreSQL, move on to the next rather than being refused.
    """
    if chosen:
        return chosen
    for n in range(tries):
        candidate = "popflow_" if n == 0 else f"popflow_{_hex8(checkout if n == 1 else f'{checkout}#{n}')}_"
        if not sealed_elsewhere(candidate):
            return candidate
    raise RuntimeError(f"the databases of {tries} prefixes are all sealed with other keys: drop those no longer used")


def _hex8(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def ensure_databases(admin_url: str, services: list[str], *, prefix: str = "popflow_") -> dict[str, str]:
    """{service: SQLAlchemy URL} for databases named prefix+service, created if absent."""
    return asyncio.run(_ensure(admin_url, services, prefix))


async def _ensure(admin_url: str, services: list[str], prefix: str) -> dict[str, str]:
    url = make_url(admin_url)
    connection = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        urls = {}
        for service in services:
            name = f"{prefix}{service}"
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await connection.execute(f'CREATE DATABASE "{name}"')
            target = url.set(drivername="postgresql+asyncpg", database=name)
            urls[service] = target.render_as_string(hide_password=False)
        return urls
    finally:
        await connection.close()


def topic_prefix(database_prefix: str) -> str:
    """The topics and consumer groups that go with a checkout's databases: popflow_1a2b3c4d_ ->
    popflow.1a2b3c4d. (ending in a dot, like the default popflow.)."""
    return database_prefix.replace("_", ".")
