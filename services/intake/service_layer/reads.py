"""Reading records back: only what the reader's scope covers, every read audited, the person opened.

The read audit is written before the answer leaves, so no record is shown
without a line saying who read it and why.
"""

from __future__ import annotations

import enum
from typing import Any

from services.intake.adapters.audit import ReadAudit
from services.intake.adapters.notice_recipients import NoticeRecipients
from services.intake.adapters.repository import RecordRepository
from services.intake.adapters.sealed import open_record
from services.intake.adapters.tables import RecordRow
from shared.auth import Principal, ScopeKind
from shared.identity import person_key
from shared.notice_grants import granted_to
from shared.sealing import Keyring


class Unseen(enum.Enum):
    """Why one record is not shown."""

    MISSING = "missing"
    OUT_OF_SCOPE = "out_of_scope"


class RecordReads:
    def __init__(
        self,
        repository: RecordRepository,
        audit: ReadAudit,
        keyring: Keyring,
        person_secret: bytes,
        notices: NoticeRecipients,
    ) -> None:
        self._repository = repository
        self._audit = audit
        self._keyring = keyring
        self._person_secret = person_secret
        self._notices = notices

    async def one(
        self,
        principal: Principal,
        record_id: str,
        *,
        purpose: str,
        notice_id: str | None = None,
        grant: str | None = None,
    ) -> dict[str, Any] | Unseen:
        """The record with its case's versions, or why it is not shown.

        Outside the reader's scope, `notice_id` may open it: when that notice is
        about this record and was sent to an office the reader acts for, the
        record alone is shown (no other version of the case), audited with the notice.
        Intake knows a notice from notices.issued, or from the `grant` its link
        carries when the link is opened before that (shared.notice_grants).
        """
        row = await self._repository.get(record_id)
        if row is None:
            return Unseen.MISSING
        if not principal.can_access(row.reporting_street):
            if notice_id is None or not await self._notice_opens(principal, notice_id, record_id, grant):
                return Unseen.OUT_OF_SCOPE
            why = f"notice {notice_id}" + (f": {purpose}" if purpose else "")
            await self._audit.record(principal, action="read-by-notice", record_ids=[record_id], purpose=why[:200])
            return present(row, self._keyring) | {"notice_id": notice_id}
        # versions reported by streets outside the scope stay unseen, ids included
        versions = [v for v in await self._repository.versions(row) if principal.can_access(v.reporting_street)]
        await self._audit.record(principal, action="read", record_ids=[row.record_id], purpose=purpose)
        return present(row, self._keyring) | {"versions": [version_summary(v) for v in versions]}

    async def _notice_opens(self, principal: Principal, notice_id: str, record_id: str, grant: str | None) -> bool:
        notice = await self._notices.get(notice_id)
        if notice is not None:
            return notice.record_id == record_id and principal.can_access(notice.recipient_code)
        if grant is None:
            return False
        recipient = granted_to(self._keyring, grant, notice_id=notice_id, record_id=record_id)
        return recipient is not None and principal.can_access(recipient)

    async def of_person(self, principal: Principal, id_number: str, *, purpose: str) -> list[dict[str, Any]]:
        """Every record of the person inside the reader's scope, oldest first."""
        rows = await self._repository.of_person(person_key(id_number, self._person_secret))
        rows = [row for row in rows if principal.can_access(row.reporting_street)]
        return await self._shown(principal, "search", rows, purpose)

    async def listing(self, principal: Principal, *, limit: int, offset: int, purpose: str) -> list[dict[str, Any]]:
        """A page of the records inside the reader's scope, newest first."""
        prefix = "" if principal.scope.kind is ScopeKind.ADMIN else principal.scope.code
        rows = await self._repository.listing(street_prefix=prefix, limit=limit, offset=offset)
        return await self._shown(principal, "list", rows, purpose)

    async def _shown(
        self, principal: Principal, action: str, rows: list[RecordRow], purpose: str
    ) -> list[dict[str, Any]]:
        ids = [row.record_id for row in rows]
        await self._audit.record(principal, action=action, record_ids=ids, purpose=purpose)
        return [present(row, self._keyring) for row in rows]


def present(row: RecordRow, keyring: Keyring) -> dict[str, Any]:
    """The record as submitted (person and sealed parts opened) with what intake added."""
    person = keyring.open(row.person_sealed, context=row.record_id) if row.person_sealed else None
    record = open_record(row.record, row.record_id, keyring)
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
