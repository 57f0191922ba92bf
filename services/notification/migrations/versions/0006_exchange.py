"""The inter-district exchange: deliveries to partners, and what partners delivered to us.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("exchange_code", sa.String(12), nullable=True))
    op.create_table(
        "exchange_received",
        sa.Column("message_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("partner", sa.String(100), nullable=False),
        sa.Column("sender_code", sa.String(12), nullable=False),
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("local_notice_id", sa.String(36), nullable=True, unique=True),
        sa.Column("answer_message_id", sa.String(64), nullable=True, unique=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exchange_received")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("exchange_code")
