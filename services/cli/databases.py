"""Creates one PostgreSQL database per service when missing, for local runs and tests."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import make_url


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
