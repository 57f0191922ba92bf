"""Retired division codes: the mapping note of a decision, and retired told apart from unknown in review.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("routed_records", sa.Column("note", sa.String(500), nullable=True))
    op.add_column("review_queue", sa.Column("kind", sa.String(10), nullable=False, server_default="unknown"))


def downgrade() -> None:
    op.drop_column("review_queue", "kind")
    op.drop_column("routed_records", "note")
