"""Keys get a role beside their scope (submitter, office, bureau, admin).

Revision ID: keys_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "keys_0002"
down_revision = "keys_0001"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("role")
