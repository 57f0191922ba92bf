"""The fold's upserts as portable statements (SQLite; the reference for pg_fold.py's set-based form).

Each statement sets what its event carries, keyed by the natural id, so
applying a batch twice or in another order leaves the same rows.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert

from services.reporting.adapters.tables import notices, records, rejections
from services.reporting.domain.batch import FoldBatch
from services.reporting.domain.facts import RecordFact

Statement = tuple[Any, list[dict[str, Any]]]
ISSUED_SET = ("record_id", "recipient_code", "route", "issued_at", "week", "kind", "answer_expected")


def portable_statements(batch: FoldBatch) -> list[Statement]:
    return [_submitted(batch), _routed(batch), _issued(batch), _answered(batch), _rejected(batch)]


def _submitted(batch: FoldBatch) -> Statement:
    """The record as submitted; its reporting street only until routing has decided (a retired street's
    successor, a bureau's correction in the review queue), whichever event comes first."""
    statement = insert(records)
    columns = [c for c in RecordFact.__slots__ if c not in ("record_id", "reporting_street")]
    street = sa.case(
        (records.c.route.is_not(None), records.c.reporting_street), else_=statement.excluded.reporting_street
    )
    upsert = statement.on_conflict_do_update(
        index_elements=["record_id"],
        set_={**{c: statement.excluded[c] for c in columns}, "reporting_street": street, "submitted": True},
    )
    return upsert, [{**asdict(f), "submitted": True} for f in batch.submitted.values()]


def _routed(batch: FoldBatch) -> Statement:
    statement = insert(records)
    routed = {"route": statement.excluded.route, "reporting_street": statement.excluded.reporting_street}
    upsert = statement.on_conflict_do_update(index_elements=["record_id"], set_=routed)
    return upsert, [{**asdict(f), "submitted": False, "missing_mask": 0} for f in batch.routed.values()]


def _issued(batch: FoldBatch) -> Statement:
    statement = insert(notices)
    upsert = statement.on_conflict_do_update(
        index_elements=["notice_id"], set_={c: statement.excluded[c] for c in ISSUED_SET}
    )
    rows = [{"notice_id": f.notice_id, **{c: getattr(f, c) for c in ISSUED_SET}} for f in batch.issued.values()]
    return upsert, rows


def _answered(batch: FoldBatch) -> Statement:
    """The first answer by time wins, whatever order the answers arrive in."""
    statement = insert(notices)
    new = statement.excluded
    earlier = sa.or_(notices.c.answered_at.is_(None), new.answered_at < notices.c.answered_at)
    upsert = statement.on_conflict_do_update(
        index_elements=["notice_id"],
        set_={
            "answered_at": sa.case((earlier, new.answered_at), else_=notices.c.answered_at),
            "answer": sa.case((earlier, new.answer), else_=notices.c.answer),
        },
    )
    rows = [
        {"notice_id": f.notice_id, "answered_at": f.answered_at, "answer": f.answer} for f in batch.answered.values()
    ]
    return upsert, rows


def _rejected(batch: FoldBatch) -> Statement:
    statement = insert(rejections).on_conflict_do_nothing(index_elements=["rejection_id"])
    return statement, [asdict(f) for f in batch.rejected.values()]
