"""The body of every service's migrations/env.py: run on the connection handed in."""

from __future__ import annotations

from alembic import context


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run from the service start-up (shared.db.run_migrations)")
    version_table = context.config.attributes.get("version_table", "alembic_version")
    context.configure(connection=connection, render_as_batch=True, version_table=version_table)
    with context.begin_transaction():
        context.run_migrations()
