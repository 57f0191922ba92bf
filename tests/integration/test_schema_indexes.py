"""No index repeats another: every service's schema, migrated on PostgreSQL, has no plain index whose
columns begin another index of the same table.

Such an index answers nothing the longer one does not, and every row written pays one more B-tree insert
for it: routing's `ix_notices_record_id` beside `uq_notice_once`, notification's inbox index on the
recipient beside the one on (recipient, issued at, notice id), until round 20 (docs/performance.md).
A unique index is never redundant (it enforces something), nor a partial one (it holds fewer rows).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.migrations import HISTORIES
from tests.support.stores import migrated_store

# A B-tree index's key columns, each with its operator class and options (DESC, NULLS FIRST): INCLUDE
# columns are not keys. An index on an expression (attribute number 0) or of another access method is
# left out, as a partial one is: it is never reported, and reports nothing.
INDEXES = text(
    """
    SELECT t.relname AS table_name, i.relname AS index_name, ix.indisunique AS is_unique,
           ix.indpred IS NOT NULL OR ix.indexprs IS NOT NULL OR am.amname <> 'btree' AS is_partial,
           ARRAY(
               SELECT k.attnum || ':' || k.opclass || ':' || k.option
               FROM unnest(ix.indkey::int2[], ix.indclass::oid[], ix.indoption::int2[])
                   WITH ORDINALITY AS k(attnum, opclass, option, position)
               WHERE k.position <= ix.indnkeyatts
               ORDER BY k.position
           ) AS columns
    FROM pg_index ix
    JOIN pg_class i ON i.oid = ix.indexrelid
    JOIN pg_class t ON t.oid = ix.indrelid
    JOIN pg_am am ON am.oid = i.relam
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = current_schema()
    """
)


def covered(indexes: list[tuple[str, str, bool, bool, list[str]]]) -> list[str]:
    """Plain indexes whose key columns begin another (non-partial) index of their table: `table.index (by other)`."""
    found = []
    for table, name, unique, partial, columns in indexes:
        if unique or partial:
            continue
        for other_table, other, other_unique, other_partial, other_columns in indexes:
            same_table = other_table == table and other != name and not other_partial
            # of two plain indexes with the very same keys, the one later by name is reported
            longer = len(other_columns) > len(columns) or other_unique or other < name
            if same_table and other_columns[: len(columns)] == columns and longer:
                found.append(f"{table}.{name} (by {other})")
                break
    return found


def test_the_check_finds_an_index_that_begins_another() -> None:
    indexes = [
        ("notices", "ix_notices_record_id", False, False, ["2:1:0"]),
        ("notices", "uq_notice_once", True, False, ["2:1:0", "3:1:0", "5:1:0", "4:1:0"]),
        ("notices", "ix_notices_waiting", False, True, ["10:1:0"]),
        ("cases", "ix_cases_person_key", False, False, ["2:1:0"]),
        ("cases", "cases_pkey", True, False, ["1:1:0"]),
        ("cases", "ix_cases_record_id", False, False, ["1:1:0"]),  # the primary key's very column
        ("other", "ix_other_record_id", False, False, ["3:1:0"]),
        ("other", "ix_other_open", False, True, ["3:1:0", "4:1:0"]),  # partial: holds fewer rows, covers nothing
        ("other", "ix_other_code", False, False, ["5:1:0"]),
        ("other", "ix_other_code_pattern", False, False, ["5:2:0"]),  # another operator class: not the same key
        ("other", "ix_other_code_desc", False, False, ["5:1:3"]),  # descending: not the same key either
    ]
    assert covered(indexes) == [
        "notices.ix_notices_record_id (by uq_notice_once)",
        "cases.ix_cases_record_id (by cases_pkey)",
    ]


@pytest.mark.parametrize("service", sorted(HISTORIES))
async def test_no_index_begins_another(service: str, tmp_path: Path) -> None:
    store = migrated_store("postgresql", f"indexes{service}", HISTORIES[service], tmp_path)
    async with store as engine, engine.connect() as connection:
        rows = (await connection.execute(INDEXES)).all()
    indexes = [(r.table_name, r.index_name, r.is_unique, r.is_partial, list(r.columns)) for r in rows]
    assert {table for table, *_ in indexes} - {"alembic_version"}, "the query finds the service's own tables"
    assert covered(indexes) == []
