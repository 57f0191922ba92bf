"""The status outbox rows waiting to be published get an index of their own, in the relay's order.

The relay reads "the oldest unsent rows, not set aside" on every pass
(shared.db.outbox.pending). The only index it could use was 0002's on
`sent_at`, whose NULL entries stay after a row is published (an UPDATE makes
a new row version; the old entry goes at the next VACUUM), so PostgreSQL's
bitmap scan checked every row published since the last VACUUM on every
pass: 14 ms a pass after 100,000 rows and growing (intake's migration 0006
and docs/performance.md, round 11, measured it on intake's outbox). This
index holds exactly the query's rows in its order: a pass costs the same
however many rows went before.

A deployment with a large outbox can build it beforehand without holding up
writes, under the same name:

    CREATE INDEX CONCURRENTLY ix_status_outbox_unsent ON status_outbox (id)
        WHERE sent_at IS NULL AND set_aside_at IS NULL;

and this migration then finds it and only records its revision. On SQLite (a
local run) it builds nothing: SQLite updates rows in place and its plan
already reads the `sent_at` index.

Revision ID: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"

UNSENT = "sent_at IS NULL AND set_aside_at IS NULL"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite updates a row in place: no entries of published rows stay behind to read
    op.create_index(
        "ix_status_outbox_unsent", "status_outbox", ["id"], postgresql_where=sa.text(UNSENT), if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_status_outbox_unsent", "status_outbox", if_exists=True)
