"""A delivery says until when a push holds it: a redelivery then leaves a push under way to finish.

A claim pushed `next_attempt_at` to the end of its lease, and so did a retry's backoff: a
redelivery could not tell a row a push held from one waiting out its backoff, made it due at
once, and another replica pushed the notice beside the push under way. `leased_until` is set
with the lease (a claim, or a push handed off as its notice is stored) and cleared when the
attempt is recorded; a row a killed worker held keeps a time already past.

Revision ID: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "leased_until")
