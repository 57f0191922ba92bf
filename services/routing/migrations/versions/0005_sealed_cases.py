"""The person sealed: cases keep name, identity number and addresses in `person_sealed`,
review items their record in `record_sealed`.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

from shared.db.sealing_migration import json_value, seal_rows

revision = "0005"
down_revision = "0004"

CLEAR = ("name", "id_number", "residence_address", "registration_address")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("person_sealed", sa.Text(), nullable=True))
    seal_rows("cases", key="record_id", clear=CLEAR, into="person_sealed")
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("person_sealed", existing_type=sa.Text(), nullable=False)
        for column in CLEAR:
            batch.drop_column(column)

    with op.batch_alter_table("review_queue") as batch:
        batch.add_column(sa.Column("record_sealed", sa.Text(), nullable=True))
    # context as services/routing/adapters/review_store.py binds it
    seal_rows(
        "review_queue",
        key="record_id",
        clear=("record",),
        into="record_sealed",
        value=lambda row: json_value(row["record"]),
        context=lambda record_id: f"{record_id}/review",
    )
    with op.batch_alter_table("review_queue") as batch:
        batch.drop_column("record")


def downgrade() -> None:
    raise NotImplementedError("sealed cases and review items are not put back in clear")
