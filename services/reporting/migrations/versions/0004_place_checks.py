"""Place checks of a spot check: the place, and the persons found there (sealed) with their outcome.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "place_checks",
        sa.Column("place_check_id", sa.String(36), primary_key=True),
        sa.Column("check_id", sa.String(36), nullable=False),
        sa.Column("street", sa.String(9), nullable=False),
        sa.Column("community", sa.String(12), nullable=True),
        sa.Column("place_kind", sa.String(20), nullable=False),
        sa.Column("place_name", sa.String(200), nullable=False),
        sa.Column("place_address", sa.String(200), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.Column("checker", sa.String(50), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("posted_by", sa.String(32), nullable=False),
        sa.Column("posted_at", TS, nullable=False),
    )
    op.create_index("ix_place_checks_check_street", "place_checks", ["check_id", "street"])
    op.create_table(
        "place_check_persons",
        sa.Column("place_check_id", sa.String(36), primary_key=True),
        sa.Column("person_key", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=True),
        sa.Column("person_sealed", sa.Text(), nullable=False),
        sa.Column("entered_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("place_check_persons")
    op.drop_index("ix_place_checks_check_street", "place_checks")
    op.drop_table("place_checks")
