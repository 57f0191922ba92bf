"""Inbox notices say whether a partner sent them through the exchange door.

A notice's record link carries a grant that opens the record at intake
(shared/notice_grants.py). A partner's notice is about a record of the
partner's, whose ids the partner chose: it must carry none. Notices taken
before this revision are marked from the exchange's own log of them.

Revision ID: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.add_column("inbox_notices", sa.Column("from_partner", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE inbox_notices SET from_partner = TRUE WHERE notice_id IN "
        "(SELECT local_notice_id FROM exchange_received WHERE kind = 'notice' AND local_notice_id IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_column("inbox_notices", "from_partner")
