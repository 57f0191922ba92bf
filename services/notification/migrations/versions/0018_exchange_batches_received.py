"""FTP batches our poller took or set aside, by a keyed digest of their id: what became of a batch whose batch file
is found alone in our folder later (its manifest moved, its own move failed, and the poller restarted since).

Without it, such a file waited the orphan's day and was set aside as a batch whose sender never finished the
upload, though its messages were applied. The id is the sender's file name, its choice: stored as the keyed
digest of domain/orphan_batches.batch_key, never as it was. A row a batch; none are deleted (a batch's messages
are rows of exchange_received already).

Revision ID: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"


def upgrade() -> None:
    op.create_table(
        "exchange_batches_received",
        sa.Column("batch_key", sa.String(64), primary_key=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exchange_batches_received")
