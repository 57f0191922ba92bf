"""FTP batches we uploaded, which messages each held, and the recipient's acknowledgement of each.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "exchange_batches_sent",
        sa.Column("batch_id", sa.String(200), primary_key=True),
        sa.Column("partner", sa.String(100), nullable=False),
        sa.Column("recipient_code", sa.String(12), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("taken", sa.Integer, nullable=True),
        sa.Column("refused", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "exchange_batch_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_exchange_batch_messages_batch_id", "exchange_batch_messages", ["batch_id"])
    op.create_index("ix_exchange_batch_messages_message", "exchange_batch_messages", ["message_id", "id"])


def downgrade() -> None:
    op.drop_table("exchange_batch_messages")
    op.drop_table("exchange_batches_sent")
