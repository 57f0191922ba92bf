"""Database plumbing: engines for PostgreSQL or SQLite, and Alembic at start-up."""

from shared.db.engine import build_engine, database_ready, session_factory
from shared.db.migrations import run_migrations

__all__ = ["build_engine", "database_ready", "run_migrations", "session_factory"]
