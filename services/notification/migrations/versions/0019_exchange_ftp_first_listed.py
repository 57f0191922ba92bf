"""When our FTP poller first listed each batch file alone (its manifest not beside it), by a keyed digest of its
folder and name: an orphan on a platform that does not say when a file was written (no MDTM, or MDTM failing) is
timed from it, and a restart or another replica taking over the poll no longer starts its wait again.

The name is the sender's choice (it may hold an identity number): stored as the digest of
domain/orphan_batches.listing_key, never as it was. A row goes when its file is dealt with; rows of files gone
otherwise (their manifest came, someone removed them) are pruned once far older than any orphan waits.

Revision ID: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"


def upgrade() -> None:
    op.create_table(
        "exchange_ftp_first_listed",
        sa.Column("file_key", sa.String(64), primary_key=True),
        sa.Column("first_listed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_exchange_ftp_first_listed_first_listed_at", "exchange_ftp_first_listed", ["first_listed_at"])


def downgrade() -> None:
    op.drop_table("exchange_ftp_first_listed")
