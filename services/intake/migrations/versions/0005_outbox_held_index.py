"""The outbox rows that hold their key back (set aside, not discarded) get an index of their own.

The relay reads them on every pass (shared.db.outbox.set_aside_keys). The
index of 0003 has only `set_aside_at IS NOT NULL` for its condition, and
without statistics (a table filled faster than they follow: a bulk import
into a new deployment) PostgreSQL takes that to hold for nearly every row,
so it scanned the whole table on every pass: 26 ms a pass at 100,000 rows,
growing with the table, the statement PostgreSQL spent most on during a bulk
import (docs/performance.md, round 10). With the query's own condition as
the index's, the plan is this index with statistics or without: 0.08 ms.

Building it reads the whole table once, while writes to it wait (before the
outbox purge, shared/db/outbox_purge.py, every published row was kept). A
deployment with a large outbox can build it beforehand without holding up
writes, under the same name:

    CREATE INDEX CONCURRENTLY ix_outbox_held_key ON outbox (key, id)
        WHERE set_aside_at IS NOT NULL AND discarded_at IS NULL;

and this migration then finds it and only records its revision.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

HELD = "set_aside_at IS NOT NULL AND discarded_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_held_key",
        "outbox",
        ["key", "id"],
        postgresql_where=sa.text(HELD),
        sqlite_where=sa.text(HELD),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_held_key", "outbox")
