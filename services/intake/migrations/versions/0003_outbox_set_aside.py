"""Outbox rows that can never be published are set aside with their error (shared.db.outbox),
and the later rows of their key wait behind them until an admin retries or discards them.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("set_aside_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("error", sa.String(500), nullable=True))
    # the relay asks "is an older row of this key set aside?" for every pending row: only those rows indexed
    op.create_index(
        "ix_outbox_set_aside_key",
        "outbox",
        ["key", "id"],
        postgresql_where=sa.text("set_aside_at IS NOT NULL"),
        sqlite_where=sa.text("set_aside_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_set_aside_key", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("error")
        batch.drop_column("discarded_at")
        batch.drop_column("set_aside_at")
