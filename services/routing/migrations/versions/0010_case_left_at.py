"""Cases take `left_at`: when a routed outflow said the person left the case's residence (case_store.mark_outflow).

The status `inflow_then_outflow` does not say it: an outflow's own case has it from the start, living at the
new residence, whose street is still asked to verify the newcomer. The reminder job skips the notices of a
case the person left. Cases marked before are those of other records than an outflow's: they take their last
update as the moment; an outflow's own case marked by a later outflow cannot be told apart and stays unmarked.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("cases", sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        sa.text("UPDATE cases SET left_at = updated_at WHERE status = 'inflow_then_outflow' AND event <> 'outflow'")
    )


def downgrade() -> None:
    with op.batch_alter_table("cases") as table:
        table.drop_column("left_at")
