"""The record of the scheduled export: which weeks' files were written, per served district, so that a
leader that starts after a cut-off it missed (a restart, an upgrade, a crash during the retries) writes them.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "weekly_exports",
        sa.Column("week", sa.String(8), primary_key=True),
        sa.Column("district", sa.String(6), primary_key=True),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("weekly_exports")
