"""Every day a key area was marked canvassed on, with when it was marked, so that a file of a week written after
its cut-off counts an area by the day it had at the cut-off, even when the day was changed since.

Revision 0008 kept only the latest mark: an area canvassed on Thursday, counted in the file written at 10:00,
whose day a clerk changed to the next Monday in the afternoon, was gone from a late file of the same week.
Each area marked before this revision gets its one mark, with the time 0008 kept (none for an area marked
before 0008: it counts as marked by any cut-off).

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "key_area_marks",
        sa.Column("area_id", sa.String(36), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("canvassed_on", sa.Date(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute(
        "INSERT INTO key_area_marks (area_id, seq, canvassed_on, marked_at) "
        "SELECT area_id, 1, canvassed_on, canvassed_at FROM key_areas WHERE canvassed_on IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("key_area_marks")
