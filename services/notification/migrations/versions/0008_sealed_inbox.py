"""The inbox keeps the person and the answer sealed (`person_sealed`, `answer_sealed`).

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

from shared.db.sealing_migration import json_value, seal_rows

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("inbox_notices") as batch:
        batch.add_column(sa.Column("person_sealed", sa.Text(), nullable=True))
        batch.add_column(sa.Column("answer_sealed", sa.Text(), nullable=True))
    # contexts as services/notification/adapters/sealed.py binds them
    seal_rows(
        "inbox_notices",
        key="notice_id",
        clear=("person",),
        into="person_sealed",
        value=lambda row: json_value(row["person"]),
        context=lambda notice_id: f"{notice_id}/person",
    )
    seal_rows(
        "inbox_notices",
        key="notice_id",
        clear=("answer",),
        into="answer_sealed",
        value=lambda row: json_value(row["answer"]),
        context=lambda notice_id: f"{notice_id}/answer",
    )
    with op.batch_alter_table("inbox_notices") as batch:
        batch.alter_column("person_sealed", existing_type=sa.Text(), nullable=False)
        batch.drop_column("person")
        batch.drop_column("answer")


def downgrade() -> None:
    raise NotImplementedError("sealed notices are not put back in clear")
