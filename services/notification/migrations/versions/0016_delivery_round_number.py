"""A delivery says which round of pushes it is in: a push's attempt is recorded in the round it was claimed in.

A redelivery while a push was under way reset the round's count, and recording the push's
attempt wrote the claim's count back over it: a failure that was the old round's last marked
the notice failed though a clerk had asked for a new round during the push. Each redelivery
now moves `round_number` on (deliveries.new_round), the claim carries it, and an attempt
whose row has moved on since its claim is the old round's: the new round's first push follows.
Round numbers are only compared for equality, so they wrap at the bound below (deliveries.py
keeps the same): no push lasts a million redeliveries.

Revision ID: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"

ROUND_NUMBERS = 1_000_000


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("round_number", sa.Integer(), nullable=False, server_default="0"))
        batch.create_check_constraint(
            "ck_deliveries_round_number", f"round_number >= 0 AND round_number < {ROUND_NUMBERS}"
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("ck_deliveries_round_number", type_="check")
        batch.drop_column("round_number")
