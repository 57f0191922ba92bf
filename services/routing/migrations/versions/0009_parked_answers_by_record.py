"""A record's parked answers are found by its id: an answer to any notice of the record waits behind them.

Revision ID: 0009
"""

from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_index("ix_parked_answers_record_id", "parked_answers", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_parked_answers_record_id", table_name="parked_answers")
