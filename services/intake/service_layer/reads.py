"""How a stored record is shown to a reader: the person opened, the case's versions listed."""

from __future__ import annotations

from typing import Any

from services.intake.adapters.sealing import Sealer
from services.intake.adapters.tables import RecordRow


def present(row: RecordRow, sealer: Sealer) -> dict[str, Any]:
    """The record as submitted (person included) with what intake added."""
    person = sealer.open(row.person_sealed, bound_to=row.record_id) if row.person_sealed else None
    record = dict(row.record)
    if person is not None:
        record = {"person": person, **record}
    return {
        "record_id": row.record_id,
        "case_id": row.case_id,
        "case_version": row.case_version,
        "status": "routed" if row.route else "accepted",
        "route": row.route,
        "received_at": row.received_at.isoformat(),
        "record": record,
    }


def version_summary(row: RecordRow) -> dict[str, Any]:
    """One version of a case, without personal data."""
    return {
        "record_id": row.record_id,
        "case_version": row.case_version,
        "event": row.record.get("event"),
        "reporting_street": row.reporting_street,
        "observed_at": row.record.get("observed_at"),
        "received_at": row.received_at.isoformat(),
    }
