"""Cases keep the person sealed: name, identity number and addresses move into `person_sealed`.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from shared.db.sealing_migration import seal_rows

revision = "0003"
down_revision = "0002"

CLEAR = ("name", "id_number", "residence_address", "registration_address")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("person_sealed", sa.Text(), nullable=True))
    seal_rows("cases", key="record_id", clear=CLEAR, into="person_sealed")
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("person_sealed", existing_type=sa.Text(), nullable=False)
        for column in CLEAR:
            batch.drop_column(column)


def downgrade() -> None:
    raise NotImplementedError("sealed cases are not put back in clear")
