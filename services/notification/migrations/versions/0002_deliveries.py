"""Push delivery: webhook subscriptions, the delivery schedule and its attempts, the status outbox;
the inbox learns each notice's kind and how far it got.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def _at(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("inbox_notices") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="transfer"))
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="issued"))
        batch.add_column(_at("delivered_at", nullable=True))
        batch.add_column(_at("acknowledged_at", nullable=True))
        batch.add_column(_at("answered_at", nullable=True))
        batch.add_column(sa.Column("answer", sa.JSON(), nullable=True))
    op.create_index("ix_inbox_recipient_issued", "inbox_notices", ["recipient_code", "issued_at", "notice_id"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("recipient_code", sa.String(12), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
    )
    op.create_table(
        "deliveries",
        sa.Column("notice_id", sa.String(36), primary_key=True),
        sa.Column("recipient_code", sa.String(12), nullable=False, index=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("round_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("total_attempts", sa.Integer(), nullable=False, server_default="0"),
        _at("next_attempt_at", nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        _at("updated_at"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("notice_id", sa.String(36), nullable=False, index=True),
        sa.Column("number", sa.Integer(), nullable=False),
        _at("attempted_at"),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.String(200), nullable=True),
    )
    op.create_table(
        "status_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("sent_at", nullable=True),
    )
    op.create_index("ix_status_outbox_sent_at", "status_outbox", ["sent_at"])


def downgrade() -> None:
    op.drop_table("status_outbox")
    op.drop_table("delivery_attempts")
    op.drop_table("deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_inbox_recipient_issued", "inbox_notices")
    with op.batch_alter_table("inbox_notices") as batch:
        for column in ("answer", "answered_at", "acknowledged_at", "delivered_at", "status", "kind"):
            batch.drop_column(column)
