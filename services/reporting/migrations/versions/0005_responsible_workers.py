"""Areas with a responsible worker: the register of workers (names sealed), communities and who
answers for each, the worker and the listing time of each key area, and the community of each record.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "responsible_workers",
        sa.Column("street", sa.String(9), primary_key=True),
        sa.Column("staff_id", sa.String(32), primary_key=True),
        sa.Column("name_sealed", sa.Text(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "communities",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("street", sa.String(9), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("staff_id", sa.String(32), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_communities_street", "communities", ["street"])
    with op.batch_alter_table("key_areas") as batch:
        batch.add_column(sa.Column("staff_id", sa.String(32), nullable=True))
        # lists registered before this revision keep no time: shown as "undated", never as late
        batch.add_column(sa.Column("listed_at", TS, nullable=True))
    with op.batch_alter_table("report_records") as batch:
        # records folded before this revision have none until a rebuild replays them
        batch.add_column(sa.Column("community", sa.String(12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_records") as batch:
        batch.drop_column("community")
    with op.batch_alter_table("key_areas") as batch:
        batch.drop_column("listed_at")
        batch.drop_column("staff_id")
    op.drop_table("communities")
    op.drop_table("responsible_workers")
