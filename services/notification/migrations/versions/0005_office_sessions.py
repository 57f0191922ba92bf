"""The street office's page: server-side login sessions.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "office_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("street", sa.String(9), nullable=False),
        sa.Column("key_ciphertext", sa.Text(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("office_sessions")
