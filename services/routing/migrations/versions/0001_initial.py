"""Routing decisions and processed events.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "routed_records",
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("reporting_street", sa.String(9), nullable=False),
        sa.Column("residence_street", sa.String(9), nullable=False),
        sa.Column("notice_id", sa.String(36), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("routed_records")
