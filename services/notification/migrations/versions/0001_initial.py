"""The inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "inbox_notices",
        sa.Column("notice_id", sa.String(36), primary_key=True),
        sa.Column("recipient_code", sa.String(12), nullable=False, index=True),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("person", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbox_notices")
