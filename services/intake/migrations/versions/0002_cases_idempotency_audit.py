"""Cases (one per person), sealed persons, idempotency keys and the read audit.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("case_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("case_version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("source_ref", sa.String(120), nullable=True))
        batch.add_column(sa.Column("person_sealed", sa.Text(), nullable=True))
        batch.create_index("ix_records_case_id", ["case_id"])
        batch.create_unique_constraint("uq_records_source_ref", ["source_ref"])
    op.create_table(
        "person_cases",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("person_key", sa.String(64), nullable=False, unique=True),
        sa.Column("versions", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(260), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "read_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(16), nullable=False, index=True),
        sa.Column("scope", sa.String(30), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False, server_default=""),
        sa.Column("record_ids", sa.JSON(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("read_audit")
    op.drop_table("idempotency_keys")
    op.drop_table("person_cases")
    with op.batch_alter_table("records") as batch:
        batch.drop_constraint("uq_records_source_ref", type_="unique")
        batch.drop_index("ix_records_case_id")
        batch.drop_column("person_sealed")
        batch.drop_column("source_ref")
        batch.drop_column("case_version")
        batch.drop_column("case_id")
