"""Runs a service's Alembic migrations at start-up, before it serves."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential


async def run_migrations(engine: AsyncEngine, script_location: Path, *, version_table: str = "alembic_version") -> None:
    """Upgrade to head, waiting (with retries) for the database to accept connections.

    `version_table` keeps two migration histories apart when they share a database.
    """
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(60), wait=wait_exponential(multiplier=0.2, max=3), reraise=True
    ):
        with attempt:
            async with engine.begin() as connection:
                await connection.run_sync(_upgrade, script_location, version_table)


def _upgrade(connection: Connection, script_location: Path, version_table: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    command.upgrade(config, "head")
