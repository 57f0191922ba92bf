"""The sealing sentinel: one value per data key, sealed when the store first met that key.

Revision ID: sentinel_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "sentinel_0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "sealing_sentinel",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sealing_sentinel")
