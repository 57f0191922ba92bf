"""FTP batch files refused as a whole (unsigned, tampered, truncated) and moved aside, with the reason.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "exchange_set_aside",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("file", sa.String(200), nullable=False),
        sa.Column("sender_code", sa.String(12), nullable=True),
        sa.Column("partner", sa.String(100), nullable=True),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("set_aside_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exchange_set_aside")
