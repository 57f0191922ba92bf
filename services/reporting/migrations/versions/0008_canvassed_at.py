"""When a key area was marked canvassed, beside the day it was canvassed on: a file of a week written after
its cut-off counts only the areas marked canvassed by then, as the file written on time did.

Areas marked before this revision keep no time; they count as marked by any cut-off.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("key_areas") as batch:
        batch.add_column(sa.Column("canvassed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("key_areas") as batch:
        batch.drop_column("canvassed_at")
