"""Idempotency keys get a kind: a single POST's keys and a bulk import's row keys are two namespaces.

Row n of a bulk import under Idempotency-Key K was stored as `K#n`, among the
single POSTs' keys, so a POST under the key `K#n` met that row: refused as a
conflict (422), or answered with the row's record. From this revision every
key says whose it is (`kind`: `request`, a single POST's, or `bulk-row`) and
the primary key is (key, kind): each kind is looked up apart.

A key stored before cannot be told apart: `abc#3` may be a POST's key or row 3
of an import under `abc`, and nothing stored says which. So every one stays a
single POST's key, and those with a `#` (every row key has one) are copied as
row keys too: a POST sent again with a key it used before, and a bulk file sent
again with its key, both still find their first answer. Only these keys, stored
before the upgrade, stay shared as they were; every key stored after is in one
namespace. The column has no default: whoever stores a key says its kind.

Rebuilding the primary key reads the table once, while writes to it wait.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

PRIMARY_KEY = "idempotency_keys_pkey"  # PostgreSQL's name for 0002's; SQLite's table is rebuilt whole
COPY_AS_ROW_KEYS = """
    INSERT INTO idempotency_keys (key, kind, fingerprint, record_id, created_at)
    SELECT key, 'bulk-row', fingerprint, record_id, created_at FROM idempotency_keys
    WHERE kind = 'request' AND key LIKE '%#%'
"""


def upgrade() -> None:
    kind = sa.Column("kind", sa.String(10), nullable=False, server_default="request")
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("idempotency_keys", kind)  # a constant default: no rewrite of the table
        op.drop_constraint(PRIMARY_KEY, "idempotency_keys", type_="primary")
        op.create_primary_key(PRIMARY_KEY, "idempotency_keys", ["key", "kind"])
    else:
        # the table rebuilt from 0002's columns, but for the primary key, which is then made (key, kind)
        with op.batch_alter_table("idempotency_keys", recreate="always", copy_from=_keys_table()) as batch:
            batch.add_column(kind)
            batch.create_primary_key(PRIMARY_KEY, ["key", "kind"])
    op.execute(COPY_AS_ROW_KEYS)
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column("kind", existing_type=sa.String(10), server_default=None)


def downgrade() -> None:
    # a text stored in both kinds keeps the single POST's answer
    op.execute(
        "DELETE FROM idempotency_keys WHERE kind = 'bulk-row' AND key IN "
        "(SELECT key FROM idempotency_keys WHERE kind = 'request')"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(PRIMARY_KEY, "idempotency_keys", type_="primary")
        op.create_primary_key(PRIMARY_KEY, "idempotency_keys", ["key"])
        op.drop_column("idempotency_keys", "kind")
    else:
        kind = sa.Column("kind", sa.String(10), nullable=False)
        with op.batch_alter_table("idempotency_keys", recreate="always", copy_from=_keys_table(kind)) as batch:
            batch.drop_column("kind")
            batch.create_primary_key(PRIMARY_KEY, ["key"])


def _keys_table(*more: sa.Column[str]) -> sa.Table:
    """0002's idempotency_keys (and `more`) without a primary key, for SQLite's rebuild to make one."""
    return sa.Table(
        "idempotency_keys",
        sa.MetaData(),
        sa.Column("key", sa.String(260), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *more,
    )
