"""Runs a service's Alembic migrations at start-up, before it serves."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.errors import is_refused_for_good
from shared.retry import until_up
from shared.sealing import Keyring

# Replicas of one service start together: the first to take this lock migrates,
# the others wait and then find the schema at head.
MIGRATION_LOCK = 0x706F70666C6F77  # "popflow"


async def run_migrations(
    engine: AsyncEngine,
    script_location: Path,
    *,
    version_table: str = "alembic_version",
    keyring: Keyring | None = None,
    revision: str = "head",
) -> None:
    """Upgrade to `revision` (head; a test stops before one to fill what it migrates), waiting (with retries)
    for the database to accept connections; a connection refused for good (a wrong password, no such database)
    is raised at once.

    `version_table` keeps two migration histories apart when they share a database.
    `keyring` reaches migrations that seal data already stored (`config.attributes["keyring"]`).
    """
    async for attempt in until_up(for_good=is_refused_for_good):
        with attempt:
            async with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                await connection.run_sync(_upgrade, script_location, version_table, keyring, revision)


def _upgrade(
    connection: Connection, script_location: Path, version_table: str, keyring: Keyring | None, revision: str
) -> None:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    config.attributes["keyring"] = keyring
    command.upgrade(config, revision)
