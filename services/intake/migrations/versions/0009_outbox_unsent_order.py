"""The unsent rows' index holds the relay's order as `id + 0`, which the primary key cannot give.

The relay reads "the oldest unsent rows, not set aside" on every pass
(shared.db.outbox_reads.pending). Ordered by `id`, PostgreSQL could read them
from 0006's index of exactly those rows, or walk the primary key and filter.
With statistics taken while most rows were unsent (a backlog after an
outage, a bulk import) the two cost the same to the planner, and in two of
five drains of intake's benchmark it walked the primary key: every pass then read
again every row published before it, a drain of 115,000 rows read 6.2 million
and ran at 10,000 rows a second instead of 20,000 (docs/performance.md, round
47). The relay now orders by `id + 0` (`shared.db.outbox_reads.relay_order`),
the same order, and this index is the only one that holds it.

Building it reads the whole table once, while writes to it wait. A
deployment with a large outbox can build it beforehand without holding up
writes, under the same name:

    CREATE INDEX CONCURRENTLY ix_outbox_unsent_order ON outbox ((id + 0))
        WHERE sent_at IS NULL AND set_aside_at IS NULL;

and this migration then finds it, and only drops 0006's index, which
nothing reads any more. SQLite (a local run) gets the same index: without it,
its plan sorts every unsent row on every pass.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

UNSENT = "sent_at IS NULL AND set_aside_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_unsent_order",
        "outbox",
        [sa.text("(id + 0)")],
        postgresql_where=sa.text(UNSENT),
        sqlite_where=sa.text(UNSENT),
        if_not_exists=True,
    )
    op.drop_index("ix_outbox_unsent", "outbox", if_exists=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_outbox_unsent", "outbox", ["id"], postgresql_where=sa.text(UNSENT), if_not_exists=True)
    op.drop_index("ix_outbox_unsent_order", "outbox", if_exists=True)
