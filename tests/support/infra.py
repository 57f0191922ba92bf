"""Where the real infrastructure is: `make test` starts it and exports these variables.

A test of the integration or e2e tier fails (never skips) when they are
missing, so a suite that silently ran nothing cannot pass.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from shared.db import build_engine, run_migrations, session_factory
from shared.kafka.security import KafkaConnection
from shared.sealing import parse_keyring
from shared.settings import KafkaSettings
from tests.support import personal_data

PERSON_KEY_SECRET = "test-person-key-secret-0123456789"
DATA_KEY = "dGVzdC1kYXRhLWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE="  # base64 of 32 fixed test bytes (AES-256)
DATA_KEYS = f"test1:{DATA_KEY}"  # POPFLOW_DATA_KEYS of every test deployment
TEST_KEYRING = parse_keyring(DATA_KEYS, "test1")
TEST_ZONE = ZoneInfo("Asia/Shanghai")  # POPFLOW_TIMEZONE of every test deployment (the setting's default)


def kafka_bootstrap() -> str:
    value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not value:
        pytest.fail("KAFKA_BOOTSTRAP_SERVERS is not set: run the suite with `make test`")
    return value


def kafka_connection(env: Mapping[str, str] | None = None) -> KafkaConnection:
    """The broker `env` names (a System's environment, else this process's), with its security settings."""
    env = os.environ if env is None else env
    return KafkaConnection.from_settings(
        KafkaSettings.model_validate({k: v for k, v in env.items() if k.startswith("KAFKA_")})
    )


def sasl_kafka_env(*, password: str | None = None) -> dict[str, str]:
    """Settings that make the services authenticate (SCRAM-SHA-512) to the test broker's SASL listener.

    deploy/with-infra.sh starts the broker with that listener and exports its
    address and user; `password` replaces the right one (to test a wrong one).
    """
    servers = os.environ.get("KAFKA_SASL_BOOTSTRAP_SERVERS")
    if not servers:
        pytest.fail("KAFKA_SASL_BOOTSTRAP_SERVERS is not set: run the suite with `make test` (deploy/with-infra.sh)")
    return {
        "KAFKA_BOOTSTRAP_SERVERS": servers,
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": os.environ.get("KAFKA_SCRAM_USERNAME", "popflow"),
        "KAFKA_SASL_PASSWORD": password or os.environ.get("KAFKA_SCRAM_PASSWORD", "popflow-test-password"),
    }


def kafka_at(bootstrap: str) -> KafkaConnection:
    """The broker at `bootstrap`, with the security this process's environment sets."""
    return kafka_connection({**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap})


def kafka_options(bootstrap: str) -> dict[str, Any]:
    """aiokafka client options for `bootstrap`, with the security this process's environment sets."""
    return kafka_at(bootstrap).options()


def pg_admin_url() -> str:
    value = os.environ.get("POPFLOW_TEST_PG_URL")
    if not value:
        pytest.fail("POPFLOW_TEST_PG_URL is not set: run the suite with `make test`")
    return value


def unique_name(stem: str) -> str:
    return personal_data.created(f"{stem}{secrets.token_hex(4)}")


async def create_database(name: str) -> str:
    """A fresh PostgreSQL database; returns its asyncpg SQLAlchemy URL."""
    admin = make_url(pg_admin_url())
    connection = await asyncpg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)


async def create_databases(names: list[str]) -> dict[str, str]:
    """create_database of each, side by side; their URLs by name."""
    return dict(zip(names, await asyncio.gather(*(create_database(name) for name in names)), strict=True))


@asynccontextmanager
async def empty_database(prefix: str) -> AsyncIterator[str]:
    """The URL of a fresh, empty PostgreSQL database named after `prefix`, dropped (and searched) afterwards."""
    name = unique_name(prefix)
    url = await create_database(name)
    try:
        yield url
    finally:
        await drop_database(name)


@asynccontextmanager
async def migrated_database(prefix: str, migrations: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a fresh PostgreSQL database migrated by `migrations`, dropped (and searched) afterwards."""
    async with empty_database(prefix) as url:
        engine = build_engine(url)
        try:
            await run_migrations(engine, migrations)
            yield session_factory(engine)
        finally:
            await engine.dispose()


# the clients' connections only: an autovacuum worker busy in the database is the bootstrap superuser's, and
# terminating it takes a superuser (a fresh CI machine's first minutes vacuum the new databases)
_DROP_CLIENTS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


async def drop_clients(admin: asyncpg.Connection, database: str) -> int:
    """Terminate every client connection to `database` but `admin`'s own, as a restart of PostgreSQL would;
    how many."""
    return int(await admin.fetchval(_DROP_CLIENTS, database))


async def terminate_backends(database: str, *, refuse_new: bool | None = None) -> int:
    """Drop every connection to `database` (a service's own), as a restart of PostgreSQL would; how many.

    `refuse_new=True` also refuses new connections until called with False, as a restart
    that takes a while does; the dropped connections are then noticed for certain."""
    admin = make_url(pg_admin_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        if refuse_new is not None:
            limit = 0 if refuse_new else -1
            await connection.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT {limit}')
        return await drop_clients(connection, database) if refuse_new is not False else 0
    finally:
        await connection.close()


async def drop_database(name: str) -> None:
    """Drop a test database, searching it for the suite's personal data first (tests/support/personal_data.py)."""
    await search_database(name)
    admin = make_url(pg_admin_url())
    connection = await asyncpg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await force_drop(connection, name)
    finally:
        await connection.close()


async def drop_databases(names: list[str]) -> None:
    """drop_database of each, side by side: a system's five took 2-3 s one after the other."""
    await asyncio.gather(*(drop_database(name) for name in names))


async def force_drop(connection: asyncpg.Connection, name: str) -> None:
    """DROP DATABASE ... WITH (FORCE), retried while an autovacuum worker holds the database.

    FORCE ends the suite's own sessions, but not an autovacuum worker that has just started on a
    freshly filled database (only a superuser may end one); it is done in moments, or in tens of
    seconds after a benchmark's 100,000 rows (seen: the 10 s this waited before were too few).
    """
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(asyncpg.InsufficientPrivilegeError),
        stop=stop_after_delay(90),
        wait=wait_fixed(0.5),
        reraise=True,
    ):
        with attempt:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def search_database(name: str) -> None:
    """Every row of every table of `name` as text; what the suite's personal data shows up in is noted."""
    if not personal_data.SEARCHING:
        return
    admin = make_url(pg_admin_url())
    url = admin.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    try:
        connection = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        return
    try:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        for schema, table in ((t["table_schema"], t["table_name"]) for t in tables):
            query = f'SELECT t::text AS row FROM "{schema}"."{table}" AS t'  # noqa: S608 - names from the catalog
            rows = await connection.fetch(query)
            dump = "\n".join(r["row"] for r in rows).encode()
            for value in personal_data.found_in(dump):
                personal_data.FINDINGS.append(f"database {name}, table {table}: {personal_data.describe(value)}")
    finally:
        await connection.close()
