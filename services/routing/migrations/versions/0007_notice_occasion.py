"""Notices take an `occasion`: the one step that tells a recipient twice at one case version (an outflow's
registration place, told of the move, then of the verification) names it, so that both notices are stored.
Every notice before, and every other notice, has the occasion "" and keeps its id.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

ONCE = ["record_id", "case_version", "recipient_code", "kind"]
WAITING = "awaits_answer AND answered_at IS NULL AND escalated_at IS NULL"


def upgrade() -> None:
    _replace_once([*ONCE, "occasion"], add_occasion=True)


def downgrade() -> None:
    # a second notice of a triple (occasion not "") cannot be kept under the old constraint
    op.execute(sa.text("DELETE FROM notices WHERE occasion <> ''"))
    _replace_once(ONCE, add_occasion=False)


def _replace_once(columns: list[str], *, add_occasion: bool) -> None:
    # SQLite changes a constraint by copying the table, which would keep the waiting index without its WHERE
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.drop_index("ix_notices_waiting", table_name="notices")
    with op.batch_alter_table("notices") as batch:
        if add_occasion:
            batch.add_column(sa.Column("occasion", sa.String(20), nullable=False, server_default=""))
        batch.drop_constraint("uq_notice_once", type_="unique")
        batch.create_unique_constraint("uq_notice_once", columns)
        if not add_occasion:
            batch.drop_column("occasion")
    if sqlite:
        op.create_index(
            "ix_notices_waiting",
            "notices",
            ["issued_at"],
            sqlite_where=sa.text(WAITING),
            postgresql_where=sa.text(WAITING),
        )
