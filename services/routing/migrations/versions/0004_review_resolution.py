"""Review items keep the routing fields of their record (to route it again) and their resolution.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    # items stored before this revision have no record: they can be dismissed, not corrected
    op.add_column("review_queue", sa.Column("record", sa.JSON(), nullable=True))
    op.add_column("review_queue", sa.Column("resolution", sa.String(20), nullable=True))
    op.add_column("review_queue", sa.Column("resolved_code", sa.String(9), nullable=True))
    op.add_column("review_queue", sa.Column("resolution_note", sa.String(300), nullable=True))
    op.add_column("review_queue", sa.Column("resolved_by", sa.String(12), nullable=True))
    op.add_column("review_queue", sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for column in ("resolved_at", "resolved_by", "resolution_note", "resolved_code", "resolution", "record"):
        op.drop_column("review_queue", column)
