"""Every step of a weekly sign-off (submitted, accepted, returned) with its time, so that a file of a week
written after its cut-off shows the sign-off as it stood then, not only the latest submission and review.

Sign-offs from before this revision have no steps; they are shown as well as their one row allows.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "weekly_signoff_steps",
        sa.Column("street", sa.String(9), primary_key=True),
        sa.Column("week", sa.String(8), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("comment", sa.String(500), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("weekly_signoff_steps")
