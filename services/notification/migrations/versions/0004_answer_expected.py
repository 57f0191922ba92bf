"""The inbox learns whether a notice expects an answer, and by when (NoticeIssued v3).

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("inbox_notices") as batch:
        batch.add_column(sa.Column("answer_expected", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("answer_due", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_notices") as batch:
        batch.drop_column("answer_due")
        batch.drop_column("answer_expected")
