"""Cases, notices (once per case version, recipient and kind) and the review queue.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("person_key", sa.String(64), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("reporting_street", sa.String(9), nullable=False),
        sa.Column("residence_street", sa.String(9), nullable=False),
        sa.Column("residence_address", sa.String(200), nullable=False),
        sa.Column("registration_division", sa.String(9), nullable=False),
        sa.Column("registration_address", sa.String(200), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notices",
        sa.Column("notice_id", sa.String(36), primary_key=True),
        sa.Column("record_id", sa.String(36), nullable=False, index=True),
        sa.Column("case_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("recipient_code", sa.String(9), nullable=False),
        sa.Column("exchange_endpoint", sa.String(100), nullable=True),
        sa.Column("sender_code", sa.String(9), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("awaits_answer", sa.Boolean(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(20), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("record_id", "case_version", "recipient_code", "kind", name="uq_notice_once"),
    )
    # the reminder job reads only notices still waiting for an answer
    op.create_index(
        "ix_notices_waiting",
        "notices",
        ["issued_at"],
        postgresql_where=sa.text("awaits_answer AND answered_at IS NULL AND escalated_at IS NULL"),
        sqlite_where=sa.text("awaits_answer AND answered_at IS NULL AND escalated_at IS NULL"),
    )
    op.create_table(
        "review_queue",
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("reporting_street", sa.String(12), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("review_queue")
    op.drop_index("ix_notices_waiting", table_name="notices")
    op.drop_table("notices")
    op.drop_table("cases")
