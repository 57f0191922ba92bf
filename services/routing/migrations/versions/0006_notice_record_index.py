"""Notices lose their index on `record_id` alone: `uq_notice_once` begins with that column and answers
the same look-ups (a case's notices), so the second index only cost every notice written one more
B-tree insert (docs/performance.md, round 20).

Revision ID: 0006
"""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.drop_index("ix_notices_record_id", table_name="notices", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_notices_record_id", "notices", ["record_id"])
