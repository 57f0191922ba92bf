"""Who read which records: the audit as an admin sees it."""

from __future__ import annotations

from typing import Any

from services.intake.adapters.audit import ReadAudit
from shared.auth import Principal


async def audit_entries(audit: ReadAudit, principal: Principal, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """Newest first, for an admin key (the route requires Action.ADMINISTER)."""
    rows = await audit.visible_to(principal, limit=limit, offset=offset)
    return [
        {
            "key_id": row.key_id,
            "scope": row.scope,
            "action": row.action,
            "purpose": row.purpose,
            "record_ids": row.record_ids,
            "read_at": row.read_at.isoformat(),
        }
        for row in rows
    ]
