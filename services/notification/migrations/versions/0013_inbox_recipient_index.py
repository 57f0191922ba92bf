"""The inbox loses its index on `recipient_code` alone: `ix_inbox_recipient_issued` (recipient, issued
at, notice id) begins with that column and answers the same look-ups, so the second index only cost
every notice stored one more B-tree insert (docs/performance.md, round 20).

Revision ID: 0013
"""

from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.drop_index("ix_inbox_notices_recipient_code", table_name="inbox_notices", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_inbox_notices_recipient_code", "inbox_notices", ["recipient_code"])
