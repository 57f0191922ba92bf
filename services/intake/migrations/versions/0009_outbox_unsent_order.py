"""The unsent rows' index holds the relay's order as `id + 0`, which the primary key cannot give; the `sent_at`
index holds published rows only.

The relay reads "the oldest unsent rows, not set aside" on every pass
(shared.db.outbox_reads.pending). Ordered by `id`, PostgreSQL could read them
from 0006's index of exactly those rows, or walk the primary key and filter.
With statistics taken while most rows were unsent (a backlog, a bulk import)
the two cost the same to the planner, and in two of five drains of intake's
benchmark it walked the primary key: every pass then read again every row
published before it, a drain of 115,000 rows read 6.2 million and ran at
10,000 rows a second instead of 20,000 (docs/performance.md, round 47). The
relay now orders by `id + 0` (`shared.db.outbox_reads.relay_order`), the same
order, and this migration's `ix_outbox_unsent_order` is the only index that
holds it.

Ordered by an expression, a plan may also read the unsent rows in any order
and sort them all. 0001's index on `sent_at` offered that: with statistics
taken in steady state (almost nothing unsent) and a backlog grown since (an
outage on a table too large for autoanalyze to notice), PostgreSQL read every
unsent row from it on every pass and sorted them. That index now holds the
published rows alone (`ix_outbox_sent`, all the purge reads); the backlog
gauge counts the unsent rows from the unsent index.

0006's `ix_outbox_unsent` goes too: with it, such a plan could read every unsent row
from it and sort them. A replica of the version before (a rolling upgrade, a
rollback) still orders by `id`; while its relay leads, a backlog whose
statistics say most rows are unsent is read through the primary key, as that
version always could: slower, nothing lost.

Building the indexes reads the whole table once each, while writes to it
wait. A deployment with a large outbox can build them beforehand without
holding up writes, under the same names:

    CREATE INDEX CONCURRENTLY ix_outbox_unsent_order ON outbox ((id + 0))
        WHERE sent_at IS NULL AND set_aside_at IS NULL;
    CREATE INDEX CONCURRENTLY ix_outbox_sent ON outbox (sent_at)
        WHERE sent_at IS NOT NULL;

and this migration then finds them, and only drops 0001's `ix_outbox_sent_at` and 0006's
`ix_outbox_unsent`.
SQLite (a local run) gets the same indexes: without the first, its plan sorts
every unsent row on every pass.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

UNSENT = "sent_at IS NULL AND set_aside_at IS NULL"
SENT = "sent_at IS NOT NULL"


def upgrade() -> None:
    where = {"postgresql_where": sa.text(UNSENT), "sqlite_where": sa.text(UNSENT)}
    op.create_index("ix_outbox_unsent_order", "outbox", [sa.text("(id + 0)")], if_not_exists=True, **where)
    sent = {"postgresql_where": sa.text(SENT), "sqlite_where": sa.text(SENT)}
    op.create_index("ix_outbox_sent", "outbox", ["sent_at"], if_not_exists=True, **sent)
    op.drop_index("ix_outbox_sent_at", "outbox", if_exists=True)
    op.drop_index("ix_outbox_unsent", "outbox", if_exists=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # 0006 built it on PostgreSQL alone
        op.create_index("ix_outbox_unsent", "outbox", ["id"], postgresql_where=sa.text(UNSENT), if_not_exists=True)
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"], if_not_exists=True)
    op.drop_index("ix_outbox_sent", "outbox", if_exists=True)
    op.drop_index("ix_outbox_unsent_order", "outbox", if_exists=True)
