"""Every day a key area was marked canvassed on, with when it was marked, so that a file of a week written after
its cut-off counts an area by the day it had at the cut-off, even when the day was changed since.

Revision 0008 kept only the latest mark: an area canvassed on Thursday, counted in the file written at 10:00,
whose day a clerk changed to the next Monday in the afternoon, was gone from a late file of the same week.
Each area marked before this revision gets its one mark, with the time 0008 kept (none for an area marked
before 0008: it counts as marked by any cut-off). That time moves to the mark: `key_areas.canvassed_at` is
dropped, as the latest mark's `marked_at` says the same.

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
    with op.batch_alter_table("key_areas") as batch:
        batch.drop_column("canvassed_at")


def downgrade() -> None:
    with op.batch_alter_table("key_areas") as batch:
        batch.add_column(sa.Column("canvassed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE key_areas SET canvassed_at = (SELECT marked_at FROM key_area_marks m "
        "WHERE m.area_id = key_areas.area_id ORDER BY m.seq DESC LIMIT 1)"
    )
    op.drop_table("key_area_marks")
