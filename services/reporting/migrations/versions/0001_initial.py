"""Report facts per record.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "report_records",
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("reporting_street", sa.String(9), nullable=False),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("route", sa.String(20), nullable=True),
    )
    op.create_index("ix_report_records_street_week", "report_records", ["reporting_street", "week"])


def downgrade() -> None:
    op.drop_table("report_records")
