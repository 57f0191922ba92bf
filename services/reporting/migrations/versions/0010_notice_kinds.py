"""A notice's kind and whether it asks for an answer, so that the weekly report counts as sent and received only
the notices that hand a case over (a transfer or a forward that expects an answer), and as unanswered, and in
"answered within target", only the notices that expect an answer.

Before this revision every notice of the cross-street and inter-district routes counted as sent and received,
and every unanswered one as unanswered: an inter-district case showed two notices sent (the transfer informing
the reporting bureau, and the forward), and the informational one stayed unanswered for ever, as did reminders.

Rows folded before this revision keep no kind: both columns stay NULL, and such a row counts as it always did
(a handover that expects an answer), so a week reported before the upgrade reads the same after it.
`popflow reporting rebuild` into a fresh store refills every notice's kind from the topics (a version-1
NoticeIssued is upcast to a transfer, expected to be answered when its route is cross-street).

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    # nullable, without a default: adding them rewrites no row on PostgreSQL, and SQLite's batch copy keeps NULL
    with op.batch_alter_table("report_notices") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=True))
        batch.add_column(sa.Column("answer_expected", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_notices") as batch:
        batch.drop_column("answer_expected")
        batch.drop_column("kind")
