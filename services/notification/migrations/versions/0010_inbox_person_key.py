"""The inbox keeps each notice's person key (`person_key`), so its status events need not open the person.

The key is the keyed HMAC of the identity number (shared.identity.person_key):
it reveals nothing. Rows stored before this migration keep NULL and their
events open the sealed person for it, as before.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    with op.batch_alter_table("inbox_notices") as batch:
        batch.add_column(sa.Column("person_key", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_notices") as batch:
        batch.drop_column("person_key")
