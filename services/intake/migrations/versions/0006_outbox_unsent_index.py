"""The outbox rows waiting to be published get an index of their own, in the relay's order.

The relay reads "the oldest unsent rows, not set aside" on every pass
(shared.db.outbox.pending). The only index it could use was 0001's on
`sent_at`, whose NULL entries stay after a row is published (an UPDATE makes
a new row version; the old entry goes at the next VACUUM). PostgreSQL read
them with a bitmap scan, which checks every such entry against the table on
every pass: during a bulk import, faster than autovacuum comes, 14 ms a pass
at 100,000 rows and growing with every row published, the statement
PostgreSQL spent most on (docs/performance.md, round 11). This index holds
exactly the query's rows in its order; an index scan stops after a batch and
marks the entries of published rows dead the first time it meets them, so a
pass costs the same however many rows went before: 1.7 ms.

Building it reads the whole table once, while writes to it wait. A
deployment with a large outbox can build it beforehand without holding up
writes, under the same name:

    CREATE INDEX CONCURRENTLY ix_outbox_unsent ON outbox (id)
        WHERE sent_at IS NULL AND set_aside_at IS NULL;

and this migration then finds it and only records its revision. On SQLite (a
local run) it builds nothing: SQLite updates rows in place and its plan
already reads the `sent_at` index.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

UNSENT = "sent_at IS NULL AND set_aside_at IS NULL"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite updates a row in place: no entries of published rows stay behind to read
    op.create_index("ix_outbox_unsent", "outbox", ["id"], postgresql_where=sa.text(UNSENT), if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_outbox_unsent", "outbox", if_exists=True)
